"""Gaussian noise that is reproducible per example."""

import jax
import jax.numpy as jnp

Array = jax.Array


def per_example_normal(rng: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """Standard normal noise (B, *event) whose example i depends only on (rng, i).

    So sample i gets the same noise whatever the batch size or the device layout.
    """
    keys = jax.vmap(jax.random.fold_in, (None, 0))(rng, jnp.arange(shape[0]))
    return jax.vmap(lambda key: jax.random.normal(key, tuple(shape[1:]), dtype))(keys)
