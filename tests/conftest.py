import jax
import pytest


@pytest.fixture
def fast_compiles():
    """For compile-bound tests: skip most XLA optimisations, then restore the setting."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)
