import os
from pathlib import Path

import jax
import pytest

# One persistent XLA compilation cache for the whole run, shared by the pytest workers and the
# runs the tests launch as subprocesses: the same tiny train steps and samplers compile once.
COMPILATION_CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax_compilation_cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(COMPILATION_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs", float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"])
)
# Most tests are compile-bound: without most XLA optimisations the whole run takes about 30% less
# time (measured: 1274 s -> 900 s of test time on 2 cores), here and in the CLI runs the tests
# launch. Tests whose time is execution (long Monte-Carlo simulations) ask for `full_optimizations`.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
jax.config.update("jax_disable_most_optimizations", os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1")


@pytest.fixture
def full_optimizations():
    """For execution-bound tests: XLA's optimisations on for this test, then the previous setting."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


# The end-to-end runner tests take 30-90 s each; started first, they overlap with the many short
# tests on the other worker instead of running alone at the end.
LONG_RUNNING_FILES = (
    "test_runner.py",
    "test_jobs.py",
    "test_main.py",
    "test_sharding.py",
    "test_launch.py",
    "test_controllable_runner.py",
    "test_evaluation.py",
    "test_latent_runner.py",
    "test_distill_runner.py",
)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONG_RUNNING_FILES)  # stable: file order kept otherwise
