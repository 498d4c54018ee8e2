"""Import score_sde_pytorch checkpoints into this project's Flax parameters.

The mapping works on plain numpy arrays keyed like the reference's `state_dict()`
("all_modules.{i}.{Submodule}.{weight|bias|W|b}"); PyTorch is needed only to read `.pth`
files (`pip install torch`). Layouts: conv OIHW -> HWIO, linear (out, in) -> (in, out),
GroupNorm weight -> scale.
"""

from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.models import get_model

BUFFERS = ("sigmas",)


def _template(config):
    model = get_model(config)
    size, channels = int(config.data.image_size), int(config.data.num_channels)
    x = jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.float32)
    labels = jax.ShapeDtypeStruct((1,), jnp.int32) if model.num_classes else None
    variables = jax.eval_shape(
        lambda: model.init(
            jax.random.PRNGKey(0),
            jnp.zeros(x.shape),
            jnp.ones(t.shape),
            class_labels=None if labels is None else jnp.zeros((1,), jnp.int32),
        )
    )
    return variables["params"]


def _reference_key(path: tuple[str, ...]) -> tuple[str, str]:
    """Flax leaf path -> (reference key, kind of layout change)."""
    module, *inner, leaf = path
    if not module.startswith("modules_"):
        raise KeyError(path)
    names = ["all_modules", module.split("_", 1)[1], *inner]
    reference_leaf = {"kernel": "weight", "scale": "weight"}.get(leaf, leaf)
    return ".".join(names + [reference_leaf]), leaf


def _to_flax(value: np.ndarray, leaf: str) -> np.ndarray:
    if value.ndim == 4 and leaf in ("kernel", "weight"):
        return np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
    if value.ndim == 2 and leaf == "kernel":
        return value.T  # (out, in) -> (in, out)
    return value


def from_pytorch_state_dict(state_dict: Mapping[str, np.ndarray], config) -> dict:
    """Maps a reference NCSNpp state dict (numpy arrays; a "module." prefix is stripped) to `params`.

    Raises a ValueError naming every missing key, shape mismatch, or unexpected key.
    """
    state = {k.removeprefix("module."): np.asarray(v) for k, v in state_dict.items()}
    template = _template(config)
    used, errors = set(BUFFERS), []

    def fill(path, leaf):
        names = tuple(p.key for p in path)
        try:
            key, kind = _reference_key(names)
        except KeyError:
            errors.append(f"{'/'.join(names)} has no counterpart in a reference checkpoint")
            return np.zeros(leaf.shape, leaf.dtype)
        if key not in state:
            errors.append(f"missing {key} (for {'/'.join(names)}, shape {leaf.shape})")
            return np.zeros(leaf.shape, leaf.dtype)
        used.add(key)
        value = _to_flax(state[key], kind)
        if value.shape != leaf.shape:
            errors.append(f"{key}: shape {state[key].shape} does not fit {'/'.join(names)} {leaf.shape}")
            return np.zeros(leaf.shape, leaf.dtype)
        return jnp.asarray(value, leaf.dtype)

    params = jax.tree_util.tree_map_with_path(fill, template)
    conditional = bool(config.model.conditional)
    unexpected = [k for k in state if k not in used and (conditional or ".Dense_0." not in k)]
    errors += [f"unexpected {k}" for k in unexpected]
    if errors:
        raise ValueError(
            f"the state dict does not match config.model ({len(errors)} problems): " + "; ".join(errors[:10])
        )
    return params


def state_dict_from_checkpoint(checkpoint: Mapping, ema: bool = True) -> dict[str, np.ndarray]:
    """The model state dict of a score_sde_pytorch checkpoint {"model", "ema", "optimizer", "step"}.

    With `ema`, the EMA shadow parameters replace the model's trainable parameters; they are
    listed in the order of `model.parameters()` with `requires_grad`, i.e. every parameter but
    the fixed Fourier-projection `W`, and buffers (`sigmas`) excluded.
    """
    model = {k.removeprefix("module."): np.asarray(v) for k, v in checkpoint["model"].items()}
    if not ema:
        return model
    shadow = list(checkpoint["ema"]["shadow_params"])
    fixed = lambda k: k in BUFFERS or (k.endswith(".W") and model[k].ndim == 1)  # Fourier W (NIN's W is 2-D)
    trainable = [k for k in model if not fixed(k)]
    if len(shadow) != len(trainable):
        raise ValueError(
            f"the checkpoint's EMA holds {len(shadow)} tensors but its model has {len(trainable)} trainable ones"
        )
    for key, value in zip(trainable, shadow):
        if np.shape(value) != model[key].shape:
            raise ValueError(f"EMA tensor for {key} has shape {np.shape(value)}, expected {model[key].shape}")
        model[key] = np.asarray(value)
    return model


def load_pytorch_checkpoint(path: str | Path, config, ema: bool = True) -> dict:
    """Reads a score_sde_pytorch `.pth` checkpoint and returns Flax `params` (EMA weights by default).

    The file is unpickled (it holds optimizer state too): load only checkpoints you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"reading {path} needs PyTorch: pip install torch (only the .pth reader needs it)") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    to_numpy = lambda v: v.detach().cpu().numpy() if hasattr(v, "detach") else v
    checkpoint = {
        "model": {k: to_numpy(v) for k, v in checkpoint["model"].items()},
        "ema": {
            **checkpoint.get("ema", {}),
            "shadow_params": [to_numpy(v) for v in checkpoint.get("ema", {}).get("shadow_params", [])],
        },
    }
    return from_pytorch_state_dict(state_dict_from_checkpoint(checkpoint, ema=ema), config)
