"""Layers of NCSN++ / DDPM++ (NHWC), named like the reference's submodules so that reference
checkpoints map onto them one to one (`score_sde.models.convert`)."""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from score_sde.models import resampling

Array = jax.Array
Dtype = Any


def default_init(scale: float = 1.0):
    """The reference initialiser: variance scaling (fan_avg, uniform); scale 0 means 1e-10."""
    return nn.initializers.variance_scaling(1e-10 if scale == 0 else scale, "fan_avg", "uniform")


def group_norm(channels: int, dtype: Dtype, name: str | None = None) -> nn.GroupNorm:
    """GroupNorm with min(channels // 4, 32) groups and eps 1e-6, as the reference."""
    groups = min(channels // 4, 32)
    if groups < 1 or channels % groups:
        raise ValueError(
            f"a layer with {channels} channels cannot be group-normalised with min(C // 4, 32) = {groups} groups: "
            f"choose config.model.nf and ch_mult so that every channel count is a multiple of its group count"
        )
    return nn.GroupNorm(num_groups=groups, epsilon=1e-6, dtype=dtype, use_fast_variance=False, name=name)


def conv3x3(features: int, dtype: Dtype, init_scale: float = 1.0, stride: int = 1, padding="SAME", name=None):
    return nn.Conv(
        features,
        (3, 3),
        strides=(stride, stride),
        padding=padding,
        kernel_init=default_init(init_scale),
        dtype=dtype,
        name=name,
    )


def conv1x1(features: int, dtype: Dtype, init_scale: float = 1.0, name=None):
    return nn.Conv(features, (1, 1), kernel_init=default_init(init_scale), dtype=dtype, name=name)


def dense(features: int, dtype: Dtype, name=None):
    return nn.Dense(features, kernel_init=default_init(), dtype=dtype, name=name)


class NIN(nn.Module):
    """A 1x1 'network in network' layer over the channel axis: x W + b, W (in, out)."""

    features: int
    init_scale: float = 0.1
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        W = self.param("W", default_init(self.init_scale), (x.shape[-1], self.features))
        b = self.param("b", nn.initializers.zeros, (self.features,))
        return jnp.einsum("...c,cd->...d", x.astype(self.dtype), W.astype(self.dtype)) + b.astype(self.dtype)


ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn")


def pixel_attention(q: Array, k: Array, v: Array, implementation: str = "auto") -> Array:
    """softmax(q k^T / sqrt(C)) v over all pixels, one head, through `jax.nn.dot_product_attention`;
    q, k, v (B, H, W, C), logits and softmax in float32.

    "auto" takes cuDNN's fused kernel on GPU for bfloat16/float16 inputs when it accepts the shape
    (it refuses some head sizes at trace time) and the trace (it has no forward-mode derivative, so
    under `jax.jvp` it raises a TypeError), and XLA's otherwise; "cudnn" insists on it.
    """
    B, H, W, C = q.shape
    heads = [jnp.reshape(a, (B, H * W, 1, C)) for a in (q, k, v)]
    use_cudnn = implementation == "cudnn" or (
        implementation == "auto" and jax.default_backend() == "gpu" and q.dtype in (jnp.bfloat16, jnp.float16)
    )
    out = None
    if use_cudnn:
        try:
            out = jax.nn.dot_product_attention(*heads, implementation="cudnn")
        except (ValueError, NotImplementedError, RuntimeError, TypeError):
            if implementation == "cudnn":
                raise
    if out is None:
        out = jax.nn.dot_product_attention(*heads, implementation="xla")
    return jnp.reshape(out, (B, H, W, C))


class AttnBlock(nn.Module):
    """DDPM self-attention over all pixels: softmax(q k^T / sqrt(C)) v, residual (`pixel_attention`)."""

    skip_rescale: bool = False
    init_scale: float = 0.0
    dtype: Dtype = jnp.float32
    implementation: str = "auto"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        C = x.shape[-1]
        h = group_norm(C, self.dtype, name="GroupNorm_0")(x)
        q = NIN(C, dtype=self.dtype, name="NIN_0")(h)
        k = NIN(C, dtype=self.dtype, name="NIN_1")(h)
        v = NIN(C, dtype=self.dtype, name="NIN_2")(h)
        h = pixel_attention(q, k, v, self.implementation)
        h = NIN(C, init_scale=self.init_scale, dtype=self.dtype, name="NIN_3")(h)
        return (x + h) / np.sqrt(2.0) if self.skip_rescale else x + h


class FIRConv2d(nn.Module):
    """3x3 convolution fused with FIR up- or down-sampling (StyleGAN2); params weight (kh, kw, in, out), bias."""

    features: int
    up: bool = False
    down: bool = False
    fir_kernel: Sequence[int] = (1, 3, 3, 1)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        w = self.param("weight", default_init(), (3, 3, x.shape[-1], self.features)).astype(self.dtype)
        b = self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
        x = x.astype(self.dtype)
        if self.up:
            x = resampling.upsample_conv_2d(x, w, self.fir_kernel)
        elif self.down:
            x = resampling.conv_downsample_2d(x, w, self.fir_kernel)
        else:
            x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return x + b


class Upsample(nn.Module):
    """2x upsampling: nearest (+ conv) or FIR (+ fused conv); out_ch defaults to the input's."""

    out_ch: int | None = None
    with_conv: bool = False
    fir: bool = False
    fir_kernel: Sequence[int] = (1, 3, 3, 1)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_ch = self.out_ch or x.shape[-1]
        if not self.fir:
            h = resampling.naive_upsample_2d(x)
            return conv3x3(out_ch, self.dtype, name="Conv_0")(h) if self.with_conv else h
        if not self.with_conv:
            return resampling.upsample_2d(x, self.fir_kernel)
        return FIRConv2d(out_ch, up=True, fir_kernel=self.fir_kernel, dtype=self.dtype, name="Conv2d_0")(x)


class Downsample(nn.Module):
    """2x downsampling: pad + stride-2 conv or average pooling, or FIR (+ fused conv)."""

    out_ch: int | None = None
    with_conv: bool = False
    fir: bool = False
    fir_kernel: Sequence[int] = (1, 3, 3, 1)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_ch = self.out_ch or x.shape[-1]
        if not self.fir:
            if self.with_conv:
                x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
                return conv3x3(out_ch, self.dtype, stride=2, padding="VALID", name="Conv_0")(x)
            return resampling.naive_downsample_2d(x)
        if not self.with_conv:
            return resampling.downsample_2d(x, self.fir_kernel)
        return FIRConv2d(out_ch, down=True, fir_kernel=self.fir_kernel, dtype=self.dtype, name="Conv2d_0")(x)


class ResnetBlockDDPM(nn.Module):
    """DDPM residual block: GN-act-conv, + Dense(act(temb)), GN-act-dropout-conv; NIN shortcut."""

    out_ch: int | None = None
    dropout: float = 0.1
    skip_rescale: bool = False
    init_scale: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array, temb: Array | None = None, train: bool = False) -> Array:
        in_ch = x.shape[-1]
        out_ch = self.out_ch or in_ch
        h = nn.swish(group_norm(in_ch, self.dtype, name="GroupNorm_0")(x))
        h = conv3x3(out_ch, self.dtype, name="Conv_0")(h)
        if temb is not None:
            h = h + dense(out_ch, self.dtype, name="Dense_0")(nn.swish(temb))[:, None, None, :]
        h = nn.swish(group_norm(out_ch, self.dtype, name="GroupNorm_1")(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = conv3x3(out_ch, self.dtype, init_scale=self.init_scale, name="Conv_1")(h)
        if in_ch != out_ch:
            x = NIN(out_ch, dtype=self.dtype, name="NIN_0")(x)
        return (x + h) / np.sqrt(2.0) if self.skip_rescale else x + h


class ResnetBlockBigGAN(nn.Module):
    """BigGAN residual block with optional 2x up/down-sampling inside; 1x1-conv shortcut."""

    out_ch: int | None = None
    up: bool = False
    down: bool = False
    dropout: float = 0.1
    fir: bool = False
    fir_kernel: Sequence[int] = (1, 3, 3, 1)
    skip_rescale: bool = True
    init_scale: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array, temb: Array | None = None, train: bool = False) -> Array:
        in_ch = x.shape[-1]
        out_ch = self.out_ch or in_ch
        h = nn.swish(group_norm(in_ch, self.dtype, name="GroupNorm_0")(x))
        if self.up:
            resample = (
                (lambda v: resampling.upsample_2d(v, self.fir_kernel)) if self.fir else resampling.naive_upsample_2d
            )
        elif self.down:
            resample = (
                (lambda v: resampling.downsample_2d(v, self.fir_kernel)) if self.fir else resampling.naive_downsample_2d
            )
        else:
            resample = None
        if resample is not None:
            h, x = resample(h), resample(x)
        h = conv3x3(out_ch, self.dtype, name="Conv_0")(h)
        if temb is not None:
            h = h + dense(out_ch, self.dtype, name="Dense_0")(nn.swish(temb))[:, None, None, :]
        h = nn.swish(group_norm(out_ch, self.dtype, name="GroupNorm_1")(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = conv3x3(out_ch, self.dtype, init_scale=self.init_scale, name="Conv_1")(h)
        if in_ch != out_ch or self.up or self.down:
            x = conv1x1(out_ch, self.dtype, name="Conv_2")(x)
        return (x + h) / np.sqrt(2.0) if self.skip_rescale else x + h


class Combine(nn.Module):
    """Merges a pyramid branch x into h: 1x1 conv of x, then concatenation or sum."""

    method: str = "cat"
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: Array, h: Array) -> Array:
        x = conv1x1(h.shape[-1], self.dtype, name="Conv_0")(x)
        return jnp.concatenate([x, h], axis=-1) if self.method == "cat" else x + h
