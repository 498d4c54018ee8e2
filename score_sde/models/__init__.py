"""Score networks and the registry that builds them from a config (`config.model.name`)."""

from typing import Callable

import flax.linen as nn
import jax

from score_sde.models.mlp import MLPScoreNet
from score_sde.models.ncsnpp import NCSNpp, ncsnpp_from_config
from score_sde.registry import Registry

Array = jax.Array
MODELS: Registry[Callable] = Registry("model")


@MODELS.register("mlp")
def _mlp(config) -> nn.Module:
    model = config.model
    if model.embedding_type not in ("positional", "fourier"):
        raise ValueError(
            f"config.model.embedding_type={model.embedding_type!r}: choose from ('positional', 'fourier')"
        )
    return MLPScoreNet(
        hidden_dims=tuple(model.hidden_dims),
        embedding_type=model.embedding_type,
        embedding_dim=int(model.embedding_dim),
        fourier_scale=float(model.get("fourier_scale", 16.0)),
        scale_by_sigma=bool(model.get("scale_by_sigma", False)),
        dropout=float(model.get("dropout", 0.0)),
    )


MODELS.register("ncsnpp")(ncsnpp_from_config)


def get_model(config) -> nn.Module:
    """The Flax module named by `config.model.name`, built from `config.model.*`."""
    return MODELS.get(config.model.name, "config.model.name")(config)


def make_net_apply(model: nn.Module):
    """net_apply(params, x, time_cond, dropout_rng, labels) -> output; no rng means evaluation
    mode; `labels` (B,) are the class labels of a class-conditional network (None otherwise)."""

    def net_apply(params, x: Array, time_cond: Array, dropout_rng: Array | None = None,
                  labels: Array | None = None) -> Array:
        extra = {} if labels is None else {"class_labels": labels}
        if dropout_rng is None:
            return model.apply({"params": params}, x, time_cond, train=False, **extra)
        return model.apply({"params": params}, x, time_cond, train=True, rngs={"dropout": dropout_rng}, **extra)

    return net_apply


__all__ = ["MODELS", "MLPScoreNet", "NCSNpp", "get_model", "make_net_apply"]
