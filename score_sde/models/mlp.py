"""A residual MLP score network for low-dimensional data (the 2-D toy problems)."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from score_sde.models.layers import GaussianFourierProjection, sinusoidal_embedding, with_interval

Array = jax.Array


class MLPScoreNet(nn.Module):
    """Maps (x (B, *event), time_cond (B,)) to an output shaped like x.

    time_cond is what the reference networks receive: a discrete/continuous label for
    `embedding_type="positional"`, the noise scale sigma for "fourier" (which embeds log sigma).
    With `scale_by_sigma`, the output is divided by sigma (VE models predict score * sigma).
    With `interval_embedding`, a second time `interval` (B,) (MeanFlow's t - r, scaled as
    time_cond; default 0) is embedded sinusoidally beside time_cond.
    """

    hidden_dims: Sequence[int] = (256, 256, 256)
    embedding_type: str = "positional"
    embedding_dim: int = 64
    fourier_scale: float = 16.0
    scale_by_sigma: bool = False
    dropout: float = 0.0
    interval_embedding: bool = False

    @nn.compact
    def __call__(self, x: Array, time_cond: Array, train: bool = False, interval: Array | None = None) -> Array:
        flat = jnp.reshape(x, (x.shape[0], -1))
        if self.embedding_type == "fourier":
            embedding = GaussianFourierProjection(self.embedding_dim // 2, self.fourier_scale)(jnp.log(time_cond))
        else:
            embedding = sinusoidal_embedding(time_cond, self.embedding_dim)
        embedding = with_interval(embedding, time_cond, interval, self.interval_embedding, self.embedding_dim)
        embedding = nn.swish(nn.Dense(self.embedding_dim * 2)(embedding))
        h = nn.Dense(self.hidden_dims[0])(flat)
        for width in self.hidden_dims:
            update = nn.swish(nn.Dense(width)(h) + nn.Dense(width)(embedding))
            update = nn.Dropout(self.dropout, deterministic=not train)(update)
            h = update if width != h.shape[-1] else h + update
        out = nn.Dense(flat.shape[-1], kernel_init=nn.initializers.zeros)(nn.swish(h))
        if self.scale_by_sigma:
            out = out / time_cond[:, None]
        return jnp.reshape(out, x.shape)
