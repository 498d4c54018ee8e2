"""Time / noise-level embeddings shared by the score networks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def sinusoidal_embedding(timesteps: Array, dim: int, max_positions: int = 10000) -> Array:
    """Transformer/DDPM sinusoidal embedding of (B,) labels, shape (B, dim) (sin half, cos half)."""
    half = dim // 2
    frequencies = jnp.exp(-np.log(max_positions) * jnp.arange(half, dtype=jnp.float32) / (half - 1))
    angles = timesteps.astype(jnp.float32)[:, None] * frequencies[None, :]
    embedding = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=1)
    return jnp.pad(embedding, ((0, 0), (0, dim % 2)))


def with_interval(embedding: Array, time_cond: Array, interval: Array | None, enabled: bool, dim: int) -> Array:
    """A time embedding (B, E) with the sinusoidal embedding (B, dim) of a second time `interval`
    (B,) concatenated (MeanFlow's t - r; 0 when not given) if the network has one (`enabled`)."""
    if not enabled:
        if interval is not None:
            raise ValueError(
                "this network embeds one time: config.model.interval_embedding=True gives it a second (t - r)"
            )
        return embedding
    interval = jnp.zeros_like(time_cond) if interval is None else jnp.broadcast_to(interval, time_cond.shape)
    return jnp.concatenate([embedding, sinusoidal_embedding(interval, dim)], axis=-1)


class GaussianFourierProjection(nn.Module):
    """Random Fourier features [sin(2 pi W x), cos(2 pi W x)] of (B,) inputs, W ~ scale N(0, 1) fixed."""

    embedding_size: int = 256
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: Array) -> Array:
        W = self.param("W", jax.nn.initializers.normal(stddev=self.scale), (self.embedding_size,))
        W = jax.lax.stop_gradient(W)
        projection = x[:, None] * W[None, :] * 2 * jnp.pi
        return jnp.concatenate([jnp.sin(projection), jnp.cos(projection)], axis=-1)
