"""Input checks done before tracing, and run-time checks on traced values."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.sde import SDE


def check_eps(eps: float, T: float, name: str = "eps") -> None:
    """`eps`, the smallest time of a solve, must lie in (0, T)."""
    if not 0.0 < float(eps) < T:
        raise ValueError(f"{name} must lie in (0, T={T}); got {eps!r}")


def check_score_fn(score_fn, shape: tuple[int, ...], dtype=jnp.float32) -> None:
    """Checks, without running it, that score_fn(x (shape), t (B,)) returns an array of `shape`."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"shape must be (batch, *event) with at least 2 axes; got {shape}")
    x = jax.ShapeDtypeStruct(shape, dtype)
    t = jax.ShapeDtypeStruct(shape[:1], dtype)
    try:
        out = jax.eval_shape(score_fn, x, t)
    except Exception as error:  # the score function's own message is the useful part
        raise ValueError(f"score_fn(x, t) fails for x of shape {shape}: {error}") from error
    if getattr(out, "shape", None) != shape:
        raise ValueError(f"score_fn(x, t) must return an array shaped like x {shape}; got {getattr(out, 'shape', out)}")


def check_sampler_inputs(process, score_fn, shape, eps: float | None) -> tuple[tuple[int, ...], float]:
    """Validates a sampler call before tracing; returns (shape as a tuple, eps), eps None being
    the process's own smallest time `process.eps`."""
    if not isinstance(process, SDE):
        raise TypeError(
            f"process must be a process of score_sde.sde (VPSDE, EDMPath, ...); got {type(process).__name__}"
        )
    eps = process.eps if eps is None else float(eps)
    check_eps(eps, process.T)
    shape = tuple(int(n) for n in shape)
    check_score_fn(score_fn, shape)
    return shape, eps


def error_if_nonfinite(x: Array, what: str) -> Array:
    """Returns x, raising at run time (also under jit) if any entry is NaN or infinite."""
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{what} produced non-finite values")


def check_positive_int(value, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
