"""Score networks, the autoencoder of latent models, and the registry that builds them from a
config (`config.model.name`)."""

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import flax.linen as nn
import jax.numpy as jnp

from score_sde._types import Array
from score_sde.config import on_schema
from score_sde.models.autoencoder import Autoencoder
from score_sde.models.autoencoder import from_config as autoencoder_from_config
from score_sde.models.mlp import MLPScoreNet
from score_sde.models.ncsnpp import EMBEDDINGS, NCSNpp, ncsnpp_from_config
from score_sde.registry import Registry
from score_sde.settings import (
    AT_LEAST_ONE,
    BELOW_ONE,
    INTEGERS,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INTS,
    Setting,
    choice,
    choice_of,
)

MODELS: Registry[Callable] = Registry("model")


@MODELS.register("mlp")
def _mlp(config) -> nn.Module:
    model = config.model
    if tuple(model.input_fourier_exponents):
        raise ValueError("config.model.input_fourier_exponents is an ncsnpp option: set it to () for the mlp")
    if model.embedding_type not in ("positional", "fourier"):
        raise ValueError(f"config.model.embedding_type={model.embedding_type!r}: choose from ('positional', 'fourier')")
    return MLPScoreNet(
        hidden_dims=tuple(model.hidden_dims),
        embedding_type=model.embedding_type,
        embedding_dim=int(model.embedding_dim),
        fourier_scale=float(model.fourier_scale),
        scale_by_sigma=bool(model.scale_by_sigma),
        dropout=float(model.dropout),
        interval_embedding=bool(model.interval_embedding),
    )


MODELS.register("ncsnpp")(ncsnpp_from_config)


@MODELS.register("autoencoder")
def _autoencoder(config) -> nn.Module:
    return autoencoder_from_config(config.model, int(config.data.num_channels))


def get_model(config) -> nn.Module:
    """The Flax module named by `config.model.name`, built from `config.model.*`; `config` may be a
    reference-style one (the official score_sde's fields alone): what it lacks takes the schema's default."""
    config = on_schema(config)
    return MODELS.get(config.model.name, "config.model.name")(config)


@dataclasses.dataclass(frozen=True)
class NetApply:
    """net_apply(params, x, time_cond, dropout_rng=None, labels=None, interval=None) -> output of a
    Flax module; no rng means evaluation mode; `labels` (B,) are the class labels of a
    class-conditional network (None otherwise; a scalar label applies to the whole batch);
    `interval` (B,) the second time of a network with an interval embedding (MeanFlow's t - r).
    Hashable (by the module), so it can be part of a compiled program."""

    model: nn.Module

    def __call__(
        self,
        params,
        x: Array,
        time_cond: Array,
        dropout_rng: Array | None = None,
        labels: Array | None = None,
        interval: Array | None = None,
    ) -> Array:
        extra: dict[str, Any] = {} if labels is None else {"class_labels": jnp.broadcast_to(labels, x.shape[:1])}
        if interval is not None:
            extra["interval"] = interval
        if dropout_rng is None:
            return cast(Array, self.model.apply({"params": params}, x, time_cond, train=False, **extra))
        rngs = {"dropout": dropout_rng}
        return cast(Array, self.model.apply({"params": params}, x, time_cond, train=True, rngs=rngs, **extra))


__all__ = ["MODELS", "Autoencoder", "MLPScoreNet", "NCSNpp", "NetApply", "get_model"]


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.name": Setting(
        "ncsnpp", ("the network: ncsnpp (NCSN++ / DDPM++), mlp (low-dimensional data), autoencoder"), choice_of(MODELS)
    ),
    "model.dropout": Setting(0.1, "dropout probability", BELOW_ONE),
    "model.embedding_type": Setting(
        "fourier", "noise-level embedding: fourier (of log time_cond) or positional", choice(*EMBEDDINGS)
    ),
    "model.fourier_scale": Setting(16.0, "scale of the Gaussian Fourier features", POSITIVE),
    "model.input_fourier_exponents": Setting(
        (), "ncsnpp: sin / cos(2^n 2 pi x) of the input for these n (VDM: (6, 7))", INTEGERS
    ),
    "model.scale_by_sigma": Setting(False, "divide the output by the noise level (the reference's VE networks)"),
    "model.num_classes": Setting(
        0, ("> 0: class-conditional on the data's labels (for classifier-free guidance)"), NON_NEGATIVE
    ),
    "model.dtype": Setting(
        "float32", "compute dtype (bfloat16: mixed precision with float32 parameters)", choice("float32", "bfloat16")
    ),
    "model.hidden_dims": Setting((256, 256, 256), "mlp: widths of the residual blocks", POSITIVE_INTS),
    "model.embedding_dim": Setting(64, "mlp: size of the noise-level embedding", AT_LEAST_ONE),
    "model.interval_embedding": Setting(
        False, "mlp, ncsnpp: embed a second time beside the noise level (MeanFlow's t - r; objective mean_flow)"
    ),
}
