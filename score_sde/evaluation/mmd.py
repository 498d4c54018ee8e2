"""Maximum mean discrepancy between two sample sets, for low-dimensional sample quality."""

import jax
import jax.numpy as jnp

Array = jax.Array


def mmd_squared(x: Array, y: Array, bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)) -> Array:
    """Unbiased MMD^2 between samples x (n, D) and y (m, D) with a sum of Gaussian kernels
    k(a, b) = sum_h exp(-|a - b|^2 / (2 h^2)). Its expectation is 0 iff the laws are equal."""
    x = jnp.reshape(x, (x.shape[0], -1))
    y = jnp.reshape(y, (y.shape[0], -1))

    def kernel(a, b):
        sq = jnp.sum(a**2, 1)[:, None] + jnp.sum(b**2, 1)[None, :] - 2 * a @ b.T
        return sum(jnp.exp(-jnp.maximum(sq, 0.0) / (2 * h**2)) for h in bandwidths)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    within_x = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
    within_y = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
    return within_x + within_y - 2 * jnp.mean(kxy)
