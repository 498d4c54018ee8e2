"""Built-in 2-D toy distributions, sampled on device (no download, no host round trip)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.registry import Registry

Array = jax.Array
TOY_DATASETS: Registry[Callable[[Array, int], Array]] = Registry("toy dataset")


@TOY_DATASETS.register("eight_gaussians")
def eight_gaussians(rng: Array, n: int) -> Array:
    """Eight Gaussians of std 0.1 on a circle of radius 2, (n, 2)."""
    k_rng, z_rng = jax.random.split(rng)
    angles = 2 * np.pi * jax.random.randint(k_rng, (n,), 0, 8) / 8
    centres = 2.0 * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)
    return centres + 0.1 * jax.random.normal(z_rng, (n, 2))


@TOY_DATASETS.register("checkerboard")
def checkerboard(rng: Array, n: int) -> Array:
    """Uniform on the 8 dark squares of a 4x4 checkerboard over [-2, 2]^2, (n, 2)."""
    x_rng, y_rng, c_rng = jax.random.split(rng, 3)
    x = jax.random.uniform(x_rng, (n,), minval=-2.0, maxval=2.0)
    column = jnp.floor(x + 2.0)
    row = 2.0 * jax.random.randint(c_rng, (n,), 0, 2) + jnp.mod(column, 2.0)
    y = row + jax.random.uniform(y_rng, (n,)) - 2.0
    return jnp.stack([x, y], axis=-1)


@TOY_DATASETS.register("two_moons")
def two_moons(rng: Array, n: int) -> Array:
    """Two interleaved half circles with noise 0.05, centred near the origin, (n, 2)."""
    a_rng, m_rng, z_rng = jax.random.split(rng, 3)
    angle = jax.random.uniform(a_rng, (n,), maxval=np.pi)
    upper = jax.random.bernoulli(m_rng, 0.5, (n,))
    x = jnp.where(upper, jnp.cos(angle), 1.0 - jnp.cos(angle)) - 0.5
    y = jnp.where(upper, jnp.sin(angle), 0.5 - jnp.sin(angle)) - 0.25
    return 1.5 * jnp.stack([x, y], axis=-1) + 0.05 * jax.random.normal(z_rng, (n, 2))


def get_toy_sampler(config) -> Callable[[Array, int], Array]:
    """The sampler of `config.data.dataset`, a function (rng, n) -> (n, 2)."""
    return TOY_DATASETS.get(config.data.dataset, "config.data.dataset")
