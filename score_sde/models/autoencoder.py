"""A KL-regularised convolutional autoencoder: the first stage of latent diffusion (Rombach et al.
2022), whose latents a latent score model learns.

The encoder maps images (B, H, W, C) to a diagonal Gaussian posterior q(z | x) over latents
(B, H / f, W / f, latent_channels), f = 2^(len(channel_mult) - 1); the decoder maps latents back
to the mean of a Gaussian p(x | z) = N(decoder(z), exp(log_scale)^2 I) with one learned scale (as
latent diffusion's learned log-variance), so the reconstruction term is a negative log-likelihood
and the decoder a density: what LSGM's likelihood bound needs. Layout as latent diffusion's
(GroupNorm / swish ResNet blocks, strided-convolution downsampling, nearest-neighbour upsampling,
optional self-attention at the lowest resolution).
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.settings import AT_LEAST_ONE, POSITIVE_INTS, Setting

LOG_VARIANCE_RANGE = (-30.0, 20.0)  # latent diffusion's clip of the posterior's log-variance
# Adam moves a parameter by about its learning rate per step: too slowly for the decoder's log-scale,
# which travels from 0 to about -4.5 (images reconstructed to a few 8-bit levels) while the networks
# train. The parameter is log_scale / LOG_SCALE_RATE, so it moves this many times faster.
LOG_SCALE_RATE = 10.0


def _sum_event(values: Array) -> Array:
    return jnp.sum(jnp.reshape(values, (values.shape[0], -1)), axis=-1)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DiagonalGaussian:
    """N(mean, diag(exp(log_variance))) per example; mean and log_variance (B, ...)."""

    mean: Array
    log_variance: Array

    def __post_init__(self):
        object.__setattr__(self, "log_variance", jnp.clip(self.log_variance, *LOG_VARIANCE_RANGE))

    @property
    def std(self) -> Array:
        return jnp.exp(0.5 * self.log_variance)

    def sample(self, rng: Array) -> Array:
        """A reparameterised draw, shaped like the mean."""
        return self.mean + self.std * jax.random.normal(rng, self.mean.shape, self.mean.dtype)

    def mode(self) -> Array:
        return self.mean

    def kl(self) -> Array:
        """KL(q || N(0, I)) (B,) in nats."""
        return 0.5 * _sum_event(self.mean**2 + jnp.exp(self.log_variance) - 1.0 - self.log_variance)

    def entropy(self) -> Array:
        """The differential entropy (B,) in nats."""
        return 0.5 * _sum_event(jnp.log(2.0 * jnp.pi * jnp.e) + self.log_variance)

    def log_prob(self, z: Array) -> Array:
        """log q(z) (B,) in nats."""
        return -0.5 * _sum_event(
            (z - self.mean) ** 2 / jnp.exp(self.log_variance) + jnp.log(2.0 * jnp.pi) + self.log_variance
        )


def _check_groups(width: int, groups: int) -> None:
    if width % groups:
        raise ValueError(f"autoencoder: num_groups={groups} must divide every width; {width} channels do not")


class ResnetBlock(nn.Module):
    """GroupNorm, swish, 3x3 conv, GroupNorm, swish, dropout, 3x3 conv; a 1x1 shortcut when widths differ."""

    out_channels: int
    num_groups: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> Array:
        _check_groups(x.shape[-1], self.num_groups)
        _check_groups(self.out_channels, self.num_groups)
        h = nn.Conv(self.out_channels, (3, 3))(nn.swish(nn.GroupNorm(self.num_groups)(x)))
        h = nn.swish(nn.GroupNorm(self.num_groups)(h))
        h = nn.Conv(self.out_channels, (3, 3))(nn.Dropout(self.dropout, deterministic=not train)(h))
        if x.shape[-1] != self.out_channels:
            x = nn.Conv(self.out_channels, (1, 1))(x)
        return x + h


class AttentionBlock(nn.Module):
    """GroupNorm, then single-head self-attention over the pixels, with a residual connection."""

    num_groups: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        batch, height, width, channels = x.shape
        h = nn.GroupNorm(self.num_groups)(x)
        q, k, v = (nn.Dense(channels)(h).reshape(batch, height * width, channels) for _ in range(3))
        weights = jax.nn.softmax(jnp.einsum("bic,bjc->bij", q, k) / np.sqrt(channels), axis=-1)
        h = jnp.einsum("bij,bjc->bic", weights, v).reshape(x.shape)
        return x + nn.Dense(channels)(h)


class _Middle(nn.Module):
    """ResNet block, optional attention, ResNet block at the lowest resolution."""

    channels: int
    num_groups: int
    attention: bool
    dropout: float

    @nn.compact
    def __call__(self, h: Array, train: bool) -> Array:
        h = ResnetBlock(self.channels, self.num_groups, self.dropout)(h, train)
        if self.attention:
            h = AttentionBlock(self.num_groups)(h)
        return ResnetBlock(self.channels, self.num_groups, self.dropout)(h, train)


class Encoder(nn.Module):
    """Images (B, H, W, C) -> q(z | x), a `DiagonalGaussian` over (B, H / f, W / f, latent_channels)."""

    channels: int = 64
    channel_mult: Sequence[int] = (1, 2)
    num_res_blocks: int = 1
    latent_channels: int = 4
    attention: bool = False
    dropout: float = 0.0
    num_groups: int = 8

    @nn.compact
    def __call__(self, x: Array, train: bool = False) -> DiagonalGaussian:
        factor = 2 ** (len(self.channel_mult) - 1)
        if x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(
                f"autoencoder: images of {x.shape[1]}x{x.shape[2]} pixels cannot be downsampled by "
                f"2^(len(channel_mult) - 1) = {factor} (channel_mult={tuple(self.channel_mult)})"
            )
        h = nn.Conv(self.channels, (3, 3))(x)
        for level, mult in enumerate(self.channel_mult):
            for _ in range(self.num_res_blocks):
                h = ResnetBlock(self.channels * mult, self.num_groups, self.dropout)(h, train)
            if level < len(self.channel_mult) - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2))(h)
        h = _Middle(h.shape[-1], self.num_groups, self.attention, self.dropout)(h, train)
        h = nn.Conv(2 * self.latent_channels, (3, 3))(nn.swish(nn.GroupNorm(self.num_groups)(h)))
        mean, log_variance = jnp.split(h, 2, axis=-1)
        return DiagonalGaussian(mean, log_variance)


class Decoder(nn.Module):
    """Latents (B, h, w, latent_channels) -> the decoder's mean (B, h f, w f, out_channels)."""

    out_channels: int
    channels: int = 64
    channel_mult: Sequence[int] = (1, 2)
    num_res_blocks: int = 1
    attention: bool = False
    dropout: float = 0.0
    num_groups: int = 8

    @nn.compact
    def __call__(self, z: Array, train: bool = False) -> Array:
        h = nn.Conv(self.channels * self.channel_mult[-1], (3, 3))(z)
        h = _Middle(h.shape[-1], self.num_groups, self.attention, self.dropout)(h, train)
        for level, mult in reversed(list(enumerate(self.channel_mult))):
            for _ in range(self.num_res_blocks + 1):
                h = ResnetBlock(self.channels * mult, self.num_groups, self.dropout)(h, train)
            if level > 0:
                batch, height, width, channels = h.shape
                h = jax.image.resize(h, (batch, 2 * height, 2 * width, channels), "nearest")
                h = nn.Conv(channels, (3, 3))(h)
        return nn.Conv(self.out_channels, (3, 3))(nn.swish(nn.GroupNorm(self.num_groups)(h)))


class Autoencoder(nn.Module):
    """Encoder, decoder and the decoder's learned log standard deviation `log_scale` (one scalar, stored
    as the parameter "log_scale" = log_scale / LOG_SCALE_RATE).

    Methods (through `apply(..., method=...)`): `encode`, `decode`, `decoder_nll`; calling it
    reconstructs from a posterior draw (and initialises every parameter).
    """

    out_channels: int
    channels: int = 64
    channel_mult: Sequence[int] = (1, 2)
    num_res_blocks: int = 1
    latent_channels: int = 4
    attention: bool = False
    dropout: float = 0.0
    num_groups: int = 8
    log_scale_init: float = 0.0

    def setup(self):
        shared = dict(
            channels=self.channels,
            channel_mult=tuple(self.channel_mult),
            num_res_blocks=self.num_res_blocks,
            attention=self.attention,
            dropout=self.dropout,
            num_groups=self.num_groups,
        )
        self.encoder = Encoder(latent_channels=self.latent_channels, **shared)
        self.decoder = Decoder(out_channels=self.out_channels, **shared)
        initial = jnp.asarray(self.log_scale_init / LOG_SCALE_RATE, jnp.float32)
        self.log_scale = LOG_SCALE_RATE * self.param("log_scale", lambda rng: initial)

    def encode(self, x: Array, train: bool = False) -> DiagonalGaussian:
        """q(z | x) of model-range images x (B, H, W, C)."""
        return self.encoder(x, train)

    def decode(self, z: Array, train: bool = False) -> Array:
        """The decoder's mean (B, H, W, C) at latents z."""
        return self.decoder(z, train)

    def decoder_nll(self, x: Array, z: Array, train: bool = False) -> Array:
        """-log N(x; decode(z), exp(log_scale)^2 I) (B,) in nats, summed over pixels."""
        return self.gaussian_nll(x, self.decode(z, train))

    def gaussian_nll(self, x: Array, mean: Array) -> Array:
        """-log N(x; mean, exp(log_scale)^2 I) (B,) in nats, summed over pixels."""
        residual = (x - mean) * jnp.exp(-self.log_scale)
        return _sum_event(0.5 * residual**2 + self.log_scale + 0.5 * jnp.log(2.0 * jnp.pi))

    def __call__(self, x: Array, rng: Array, train: bool = False) -> tuple[Array, DiagonalGaussian]:
        """(the decoder's mean at z ~ q(z | x) drawn with `rng`, the posterior)."""
        posterior = self.encode(x, train)
        return self.decode(posterior.sample(rng), train), posterior


def autoencoder_loss(module: Autoencoder, params, rng: Array, x: Array, kl_weight: float, train: bool):
    """(loss, metrics) for model-range images x (B, H, W, C): the decoder's NLL at a posterior draw
    plus kl_weight KL(q(z | x) || N(0, I)), in nats per pixel dimension, averaged over the batch
    (kl_weight = 1: the negative ELBO). Metrics: reconstruction_rmse (model range), nll_per_dim,
    kl_per_dim, log_scale. Dropout only when `train`."""
    sample_rng, dropout_rng = jax.random.split(rng)
    rngs = {"dropout": dropout_rng} if train else {}

    def terms(module):
        posterior = module.encode(x, train)
        mean = module.decode(posterior.sample(sample_rng), train)
        return module.gaussian_nll(x, mean), posterior.kl(), mean, module.log_scale

    nll, kl, mean, log_scale = nn.apply(terms, module)({"params": params}, rngs=rngs)
    dims = int(np.prod(x.shape[1:]))
    loss = jnp.mean(nll + kl_weight * kl) / dims
    metrics = {
        "reconstruction_rmse": jnp.sqrt(jnp.mean((mean - x) ** 2)),
        "nll_per_dim": jnp.mean(nll) / dims,
        "kl_per_dim": jnp.mean(kl) / dims,
        "log_scale": log_scale,
    }
    return loss, metrics


def from_config(model_config, out_channels: int) -> Autoencoder:
    """The autoencoder of config.model's ae_* fields (and its dropout) for images of `out_channels`."""
    return Autoencoder(
        out_channels=out_channels,
        channels=int(model_config.ae_channels),
        channel_mult=tuple(int(m) for m in model_config.ae_channel_mult),
        num_res_blocks=int(model_config.ae_num_res_blocks),
        latent_channels=int(model_config.ae_latent_channels),
        attention=bool(model_config.ae_attention),
        dropout=float(model_config.dropout),
        num_groups=int(model_config.ae_num_groups),
    )


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.ae_channels": Setting(128, "autoencoder: base channels", AT_LEAST_ONE),
    "model.ae_channel_mult": Setting(
        (1, 2, 4), "autoencoder: channel multiplier per level; downsampling 2^(levels - 1)", POSITIVE_INTS
    ),
    "model.ae_num_res_blocks": Setting(2, "autoencoder: residual blocks per level", AT_LEAST_ONE),
    "model.ae_latent_channels": Setting(4, "autoencoder: channels of the latent", AT_LEAST_ONE),
    "model.ae_attention": Setting(True, "autoencoder: self-attention at the lowest resolution"),
    "model.ae_num_groups": Setting(32, "autoencoder: GroupNorm groups", AT_LEAST_ONE),
}
