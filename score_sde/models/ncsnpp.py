"""NCSN++ and DDPM++ (Song et al. 2021): one configurable U-Net, NHWC, in Flax.

DDPM++ is this module with `fir=False`, `progressive_input="none"`, positional embeddings and
centered data. Submodules are named `modules_{i}` in the order of the reference's
`all_modules` list, so `score_sde.models.convert` maps a reference state dict onto them.
"""

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from score_sde.models.layers import GaussianFourierProjection, sinusoidal_embedding, with_interval
from score_sde.models.ncsnpp_layers import (
    ATTENTION_IMPLEMENTATIONS,
    AttnBlock,
    Combine,
    Downsample,
    ResnetBlockBigGAN,
    ResnetBlockDDPM,
    Upsample,
    conv3x3,
    dense,
    group_norm,
)
from score_sde.settings import AT_LEAST_ONE, POSITIVE_INTS, Setting, choice

Array = jax.Array

PROGRESSIVE = ("none", "output_skip", "residual")
PROGRESSIVE_INPUT = ("none", "input_skip", "residual")
COMBINE = ("sum", "cat")
RESBLOCKS = ("biggan", "ddpm")
EMBEDDINGS = ("fourier", "positional")


class NCSNpp(nn.Module):
    """Score network s(x, time_cond) for images x (B, H, W, C).

    time_cond is the noise scale sigma for `embedding_type="fourier"` (embedded as log sigma) and
    the discrete label t (N - 1) for "positional" (then sigma = sigmas[int(label)] for
    `scale_by_sigma`, with the decreasing geometric sigmas of sigma_max..sigma_min). Inputs in
    [0, 1] are mapped to [-1, 1] unless `centered`. With `num_classes > 0`, `class_labels` (B,)
    in [0, num_classes] (num_classes being the null label) add a learned embedding to the time
    embedding. With `interval_embedding`, a second time `interval` (B,) (MeanFlow's t - r, scaled
    as time_cond; default 0) is embedded sinusoidally and concatenated to the time embedding.
    """

    nf: int = 128
    ch_mult: Sequence[int] = (1, 2, 2, 2)
    num_res_blocks: int = 4
    attn_resolutions: Sequence[int] = (16,)
    dropout: float = 0.1
    resamp_with_conv: bool = True
    conditional: bool = True
    fir: bool = True
    fir_kernel: Sequence[int] = (1, 3, 3, 1)
    skip_rescale: bool = True
    resblock_type: str = "biggan"
    progressive: str = "none"
    progressive_input: str = "residual"
    progressive_combine: str = "sum"
    embedding_type: str = "fourier"
    fourier_scale: float = 16.0
    init_scale: float = 0.0
    scale_by_sigma: bool = True
    centered: bool = False
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    num_scales: int = 1000
    num_classes: int = 0
    input_fourier_exponents: Sequence[int] = ()
    dtype: Any = jnp.float32
    remat: bool = False
    attention_implementation: str = "auto"
    interval_embedding: bool = False

    @nn.compact
    def __call__(
        self,
        x: Array,
        time_cond: Array,
        train: bool = False,
        class_labels: Array | None = None,
        interval: Array | None = None,
    ) -> Array:
        counter = itertools.count()
        name = lambda: f"modules_{next(counter)}"
        num_resolutions = len(self.ch_mult)
        channels = x.shape[-1]
        dtype = self.dtype

        temb: Array | None
        if self.embedding_type == "fourier":
            used_sigmas = time_cond
            temb = GaussianFourierProjection(self.nf, self.fourier_scale, name=name())(jnp.log(time_cond))
        else:
            sigmas = jnp.exp(jnp.linspace(np.log(self.sigma_max), np.log(self.sigma_min), self.num_scales))
            used_sigmas = sigmas[time_cond.astype(jnp.int32)]
            temb = sinusoidal_embedding(time_cond, self.nf)
        temb = with_interval(temb, time_cond, interval, self.interval_embedding, self.nf)
        if self.conditional:
            temb = dense(self.nf * 4, dtype, name=name())(temb)
            temb = dense(self.nf * 4, dtype, name=name())(nn.swish(temb))
            if self.num_classes > 0:
                if class_labels is None:
                    raise ValueError("this NCSNpp has num_classes > 0: pass class_labels (use num_classes for 'null')")
                temb = temb + nn.Embed(self.num_classes + 1, self.nf * 4, name="label_embedding")(class_labels)
        else:
            temb = None  # no noise conditioning (config.model.conditional=False)

        # remat: a block's activations are recomputed in the backward pass instead of kept (`train` is static)
        resnet_ddpm, resnet_biggan = (
            (nn.remat(ResnetBlockDDPM, static_argnums=(3,)), nn.remat(ResnetBlockBigGAN, static_argnums=(3,)))
            if self.remat
            else (ResnetBlockDDPM, ResnetBlockBigGAN)
        )
        block: Callable[..., nn.Module]
        if self.resblock_type == "ddpm":
            block = lambda out_ch=None, **kw: resnet_ddpm(
                out_ch, self.dropout, self.skip_rescale, self.init_scale, dtype, name=name()
            )
        else:
            block = lambda out_ch=None, up=False, down=False: resnet_biggan(
                out_ch,
                up,
                down,
                self.dropout,
                self.fir,
                tuple(self.fir_kernel),
                self.skip_rescale,
                self.init_scale,
                dtype,
                name=name(),
            )
        attention = lambda: AttnBlock(
            self.skip_rescale, self.init_scale, dtype, self.attention_implementation, name=name()
        )
        fir = dict(fir=self.fir, fir_kernel=tuple(self.fir_kernel), dtype=dtype)
        rescale = lambda a, b: (a + b) / np.sqrt(2.0) if self.skip_rescale else a + b

        x = x.astype(dtype)
        if not self.centered:
            x = 2 * x - 1.0
        input_pyramid: Any = x if self.progressive_input != "none" else None  # an image pyramid's current level

        features = input_fourier_features(x, self.input_fourier_exponents) if self.input_fourier_exponents else x
        hs = [conv3x3(self.nf, dtype, name=name())(features)]
        for level in range(num_resolutions):
            for _ in range(self.num_res_blocks):
                h = block(self.nf * self.ch_mult[level])(hs[-1], temb, train)
                if h.shape[2] in self.attn_resolutions:
                    h = attention()(h)
                hs.append(h)
            if level != num_resolutions - 1:
                if self.resblock_type == "ddpm":
                    h = Downsample(with_conv=self.resamp_with_conv, name=name(), **fir)(hs[-1])
                else:
                    h = block(down=True)(hs[-1], temb, train)
                if self.progressive_input == "input_skip":
                    input_pyramid = Downsample(with_conv=False, name=f"pyramid_downsample_{level}", **fir)(
                        input_pyramid
                    )
                    h = Combine(self.progressive_combine, dtype, name=name())(input_pyramid, h)
                elif self.progressive_input == "residual":
                    input_pyramid = Downsample(out_ch=h.shape[-1], with_conv=True, name=name(), **fir)(input_pyramid)
                    input_pyramid = h = rescale(input_pyramid, h)
                hs.append(h)

        h = hs[-1]
        h = block()(h, temb, train)
        h = attention()(h)
        h = block()(h, temb, train)

        pyramid: Any = None  # the output pyramid, from the lowest resolution up
        for level in reversed(range(num_resolutions)):
            for _ in range(self.num_res_blocks + 1):
                h = block(self.nf * self.ch_mult[level])(jnp.concatenate([h, hs.pop()], axis=-1), temb, train)
            if h.shape[2] in self.attn_resolutions:
                h = attention()(h)
            if self.progressive != "none":
                if level == num_resolutions - 1:
                    pyramid = nn.swish(group_norm(h.shape[-1], dtype, name=name())(h))
                    out_ch = channels if self.progressive == "output_skip" else h.shape[-1]
                    scale = self.init_scale if self.progressive == "output_skip" else 1.0
                    pyramid = conv3x3(out_ch, dtype, init_scale=scale, name=name())(pyramid)
                elif self.progressive == "output_skip":
                    pyramid = Upsample(with_conv=False, name=f"pyramid_upsample_{level}", **fir)(pyramid)
                    pyramid_h = nn.swish(group_norm(h.shape[-1], dtype, name=name())(h))
                    pyramid = pyramid + conv3x3(channels, dtype, init_scale=self.init_scale, name=name())(pyramid_h)
                else:
                    pyramid = Upsample(out_ch=h.shape[-1], with_conv=True, name=name(), **fir)(pyramid)
                    pyramid = h = rescale(pyramid, h)
            if level != 0:
                if self.resblock_type == "ddpm":
                    h = Upsample(with_conv=self.resamp_with_conv, name=name(), **fir)(h)
                else:
                    h = block(up=True)(h, temb, train)

        if self.progressive == "output_skip":
            h = pyramid
        else:
            h = nn.swish(group_norm(h.shape[-1], dtype, name=name())(h))
            h = conv3x3(channels, dtype, init_scale=self.init_scale, name=name())(h)
        if self.scale_by_sigma:
            h = h / jnp.reshape(used_sigmas, (-1, 1, 1, 1)).astype(h.dtype)
        return h.astype(jnp.float32)


REFERENCE_FIXED = {"normalization": "GroupNorm", "nonlinearity": "swish", "attention_type": "ddpm", "conv_size": "3"}


def input_fourier_features(x: Array, exponents: Sequence[int]) -> Array:
    """VDM's Fourier features of the input: x with sin and cos(2^n 2 pi x) of every channel for
    each n in `exponents` appended, (B, H, W, C (1 + 2 len(exponents)))."""
    frequencies = 2.0 ** jnp.asarray(exponents, jnp.float32) * 2.0 * np.pi
    angles = jnp.reshape(x[..., None] * frequencies, (*x.shape[:-1], -1))
    return jnp.concatenate([x, jnp.sin(angles).astype(x.dtype), jnp.cos(angles).astype(x.dtype)], axis=-1)


def ncsnpp_from_config(config) -> NCSNpp:
    """Builds NCSNpp from a reference-style config, checking every setting first."""
    model, data = config.model, config.data

    def one_of(field, allowed):
        value = str(model[field]).lower()
        if value not in allowed:
            raise ValueError(f"config.model.{field}={model[field]!r}: choose from {allowed}")
        return value

    for field, supported in REFERENCE_FIXED.items():  # reference fields with a single implemented value
        if field in model and str(model[field]).lower() != supported.lower():
            raise ValueError(f"config.model.{field}={model[field]!r}: only {supported!r} is implemented")
    embedding_type = one_of("embedding_type", EMBEDDINGS)
    if embedding_type == "fourier" and not config.training.continuous:
        raise ValueError("config.model.embedding_type='fourier' needs config.training.continuous=True")
    ch_mult = tuple(int(m) for m in model.ch_mult)
    levels = len(ch_mult)
    size = int(data.image_size)
    if size % 2 ** (levels - 1):
        raise ValueError(
            f"config.data.image_size={size} must be divisible by 2^(len(ch_mult) - 1) = {2 ** (levels - 1)} "
            f"for ch_mult={ch_mult}"
        )
    resolutions = tuple(size // 2**i for i in range(levels))
    bad = [r for r in model.attn_resolutions if r not in resolutions]
    if bad:
        raise ValueError(
            f"config.model.attn_resolutions={tuple(model.attn_resolutions)} does not match any resolution of "
            f"image_size={size} with ch_mult={ch_mult}: choose from {resolutions}"
        )
    return NCSNpp(
        nf=int(model.nf),
        ch_mult=ch_mult,
        input_fourier_exponents=tuple(int(n) for n in model.input_fourier_exponents),
        num_res_blocks=int(model.num_res_blocks),
        attn_resolutions=tuple(int(r) for r in model.attn_resolutions),
        dropout=float(model.dropout),
        resamp_with_conv=bool(model.resamp_with_conv),
        conditional=bool(model.conditional),
        fir=bool(model.fir),
        fir_kernel=tuple(int(k) for k in model.fir_kernel),
        skip_rescale=bool(model.skip_rescale),
        resblock_type=one_of("resblock_type", RESBLOCKS),
        progressive=one_of("progressive", PROGRESSIVE),
        progressive_input=one_of("progressive_input", PROGRESSIVE_INPUT),
        progressive_combine=one_of("progressive_combine", COMBINE),
        embedding_type=embedding_type,
        fourier_scale=float(model.fourier_scale),
        init_scale=float(model.init_scale),
        scale_by_sigma=bool(model.scale_by_sigma),
        centered=bool(data.centered),
        sigma_min=float(model.sigma_min),
        sigma_max=float(model.sigma_max),
        num_scales=int(model.num_scales),
        num_classes=int(model.num_classes),
        dtype=jnp.dtype(model.dtype),
        remat=bool(model.remat),
        attention_implementation=str(model.attention_implementation),
        interval_embedding=bool(model.interval_embedding),
    )


def _non_empty(values) -> str | None:
    return None if len(values) > 0 else "must not be empty"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.remat": Setting(
        False, ("ncsnpp: recompute residual blocks in the backward pass (less memory, ~1/3 more compute)")
    ),
    "model.attention_implementation": Setting(
        "auto", "ncsnpp: auto (cuDNN on GPU for bf16 when it fits), xla or cudnn", choice(*ATTENTION_IMPLEMENTATIONS)
    ),
    "model.nf": Setting(128, "ncsnpp: base channels", AT_LEAST_ONE),
    "model.ch_mult": Setting((1, 2, 2, 2), "ncsnpp: channel multiplier per resolution", POSITIVE_INTS),
    "model.num_res_blocks": Setting(4, "ncsnpp: residual blocks per resolution", AT_LEAST_ONE),
    "model.attn_resolutions": Setting((16,), "ncsnpp: resolutions with self-attention", POSITIVE_INTS),
    "model.resamp_with_conv": Setting(True, "ncsnpp: convolutional up/down-sampling"),
    "model.conditional": Setting(True, "ncsnpp: noise-conditional"),
    "model.fir": Setting(False, "ncsnpp: FIR resampling"),
    "model.fir_kernel": Setting((1, 3, 3, 1), "ncsnpp: the FIR kernel", _non_empty),
    "model.skip_rescale": Setting(True, "ncsnpp: scale skip connections by 1/sqrt(2)"),
    "model.resblock_type": Setting("biggan", "ncsnpp: biggan or ddpm residual blocks", choice(*RESBLOCKS)),
    "model.progressive": Setting("none", "ncsnpp output pyramid: none, output_skip, residual", choice(*PROGRESSIVE)),
    "model.progressive_input": Setting(
        "none", "ncsnpp input pyramid: none, input_skip, residual", choice(*PROGRESSIVE_INPUT)
    ),
    "model.progressive_combine": Setting("sum", "ncsnpp: how pyramids join: sum or cat", choice(*COMBINE)),
    "model.attention_type": Setting("ddpm", "ncsnpp: the attention block (ddpm)", choice("ddpm")),
    "model.init_scale": Setting(0.0, "ncsnpp: scale of the output layers' initialisation"),
    "model.normalization": Setting("GroupNorm", "ncsnpp: normalisation (GroupNorm)", choice("GroupNorm")),
    "model.nonlinearity": Setting("swish", "ncsnpp: activation (swish)", choice("swish")),
    "model.conv_size": Setting(3, "ncsnpp: convolution size (3)", choice(3)),
}
