"""Inception-v3 as used for FID, IS and KID (pytorch-fid's `FIDInceptionA/C/E`, the TF-slim
graph of 2015-12-05 that the reference's tfgan evaluation also uses), inference only.

The FID variant differs from torchvision's Inception-v3 in its average pools, which do not count
padding, and in the last block's pool branch, which is a max pool; its classifier has 1008 outputs.
Inputs are images in [0, 1], resized bilinearly to 299 x 299 and mapped to [-1, 1].

Weights: the standard file is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`
(https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth).
Convert it once, with PyTorch installed, to a numpy file that needs nothing else:

  python -m score_sde.evaluation.inception pt_inception-2015-12-05-6726825d.pth inception_fid.npz

Parameter names follow the PyTorch state dict (``Mixed_5b.branch1x1.conv.weight``, ...).
"""

import sys
from pathlib import Path
from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
INPUT_SIZE = 299
NUM_LOGITS = 1008
FEATURE_DIM = 2048
WEIGHTS_HELP = (
    "get pt_inception-2015-12-05-6726825d.pth from https://github.com/mseitzer/pytorch-fid/releases/"
    "download/fid_weights/pt_inception-2015-12-05-6726825d.pth and convert it once with "
    "`python -m score_sde.evaluation.inception <that .pth> inception_fid.npz` (needs PyTorch)"
)


class BasicConv(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3, running statistics) and ReLU."""

    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        conv = nn.Conv(
            self.features,
            self.kernel,
            strides=self.stride,
            use_bias=False,
            name="conv",
            padding=[(self.padding[0], self.padding[0]), (self.padding[1], self.padding[1])],
        )
        x = conv(x)
        shape = (self.features,)
        scale = self.param("bn_weight", nn.initializers.ones, shape)
        bias = self.param("bn_bias", nn.initializers.zeros, shape)
        mean = self.param("bn_running_mean", nn.initializers.zeros, shape)
        var = self.param("bn_running_var", nn.initializers.ones, shape)
        return nn.relu((x - mean) * (scale / jnp.sqrt(var + 1e-3)) + bias)


def _avg_pool_exclude_padding(x):
    """3x3 stride-1 average pool with padding 1 that does not count the padded zeros."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, stride=2, padding="VALID"):
    return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=padding)


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_exclude_padding(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(384, (3, 3), stride=2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c = self.channels_7x7
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv(c, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool_exclude_padding(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
    """max_pool_branch: the last block (Mixed_7c) pools its pool branch with a max, not a mean."""

    max_pool_branch: bool

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            axis=-1,
        )
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            axis=-1,
        )
        pooled = _max_pool(x, 1, ((1, 1), (1, 1))) if self.max_pool_branch else _avg_pool_exclude_padding(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """(B, H, W, C) images in [0, 1] (C = 1 or 3) -> (pool3 features (B, 2048), logits (B, 1008))."""

    @nn.compact
    def __call__(self, images):
        x = jnp.asarray(images, jnp.float32)
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        x = jax.image.resize(x, (x.shape[0], INPUT_SIZE, INPUT_SIZE, 3), "bilinear", antialias=False)
        x = 2.0 * x - 1.0
        x = BasicConv(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool(x)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(channels, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(False, name="Mixed_7b")(x)
        x = InceptionE(True, name="Mixed_7c")(x)
        features = jnp.mean(x, axis=(1, 2))
        return features, nn.Dense(NUM_LOGITS, name="fc")(features)


@jax.jit
def inception_apply(params: dict, images: Array) -> tuple[Array, Array]:
    """(pool3 features (B, 2048), logits (B, 1008)) of images (B, H, W, C) in [0, 1], jitted."""
    return cast(tuple[Array, Array], InceptionV3().apply({"params": params}, images))


def _flax_path(torch_key: str) -> tuple[str, ...]:
    """'Mixed_5b.branch1x1.conv.weight' -> ('Mixed_5b', 'branch1x1', 'conv', 'kernel');
    '...bn.running_mean' -> (..., 'bn_running_mean'); 'fc.weight' -> ('fc', 'kernel')."""
    parts = torch_key.split(".")
    if parts[-2] == "bn":
        return (*parts[:-2], "bn_" + parts[-1])
    return (*parts[:-1], "kernel" if parts[-1] == "weight" else parts[-1])


def _to_flax(value: np.ndarray) -> np.ndarray:
    if value.ndim == 4:
        return np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO
    return value.T if value.ndim == 2 else value


def params_from_state_dict(state_dict, source: str = "the weights") -> dict:
    """Flax parameters from a pytorch-fid Inception state dict {name: array}; every tensor is
    checked against the architecture (a wrong file fails here, naming the tensor)."""
    template = jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)))["params"]
    expected = {path: leaf.shape for path, leaf in _leaves(template)}
    params: dict = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        path = _flax_path(key)
        if path not in expected:
            raise ValueError(f"{source}: unexpected tensor {key!r}; is this pytorch-fid's Inception? ({WEIGHTS_HELP})")
        value = _to_flax(np.asarray(value, np.float32))
        if value.shape != expected[path]:
            raise ValueError(
                f"{source}: tensor {key!r} has shape {value.shape} (as Flax), expected {expected[path]}; "
                f"this is not the FID Inception ({WEIGHTS_HELP})"
            )
        node = params
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = jnp.asarray(value)
    missing = sorted(".".join(p) for p in expected if _get(params, p) is None)
    if missing:
        raise ValueError(f"{source}: {len(missing)} tensors missing, e.g. {missing[:3]} ({WEIGHTS_HELP})")
    return params


def _leaves(tree, prefix=()):
    for name, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, name))
        else:
            yield (*prefix, name), value


def _get(tree, path):
    for name in path:
        if not isinstance(tree, dict) or name not in tree:
            return None
        tree = tree[name]
    return tree


def load_inception_params(path) -> dict:
    """Inception parameters from a converted `.npz` (or, with PyTorch installed, the `.pth`)."""
    path = Path(path).expanduser()
    if not str(path) or not path.is_file():
        raise FileNotFoundError(f"Inception weights {str(path)!r} not found: {WEIGHTS_HELP}")
    if path.suffix == ".pth":
        return params_from_state_dict(_read_pth(path), str(path))
    with np.load(path) as arrays:
        return params_from_state_dict(dict(arrays), str(path))


def _read_pth(path: Path) -> dict:
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"reading {path} needs PyTorch (pip install torch); or convert it once elsewhere: {WEIGHTS_HELP}"
        ) from error
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in state.items()}


def convert(pth: str, out: str) -> None:
    """Writes the `.pth` weights as an `.npz` with the same tensor names, after checking them."""
    from score_sde.files import write_npz_atomic

    state = _read_pth(Path(pth))
    params_from_state_dict(state, pth)
    write_npz_atomic(Path(out), **{k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m score_sde.evaluation.inception <pt_inception-2015-12-05-6726825d.pth> <out.npz>")
    convert(sys.argv[1], sys.argv[2])
