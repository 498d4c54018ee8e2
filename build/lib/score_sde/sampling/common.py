"""Pieces shared by the samplers: input checks and the final denoising step."""

import jax
import jax.numpy as jnp

from score_sde.checks import check_eps, check_score_fn
from score_sde.sde import SDE, batch_broadcast

Array = jax.Array


def check_sampler_inputs(sde: SDE, score_fn, shape, eps: float) -> tuple[int, ...]:
    """Validates a sampler call before tracing; returns `shape` as a tuple."""
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be an SDE (VPSDE, SubVPSDE, VESDE); got {type(sde).__name__}")
    check_eps(eps, sde.T)
    shape = tuple(int(n) for n in shape)
    check_score_fn(score_fn, shape)
    return shape


def tweedie_denoise(sde: SDE, score_fn, x: Array, t: float) -> Array:
    """E[x_0 | x_t] = (x_t + s(t)^2 score(x_t, t)) / a(t), one score evaluation (Tweedie)."""
    t_vec = jnp.full((x.shape[0],), t, x.dtype)
    a, s = sde.marginal_coefficients(t_vec)
    return (x + batch_broadcast(s**2, x) * score_fn(x, t_vec)) / batch_broadcast(a, x)
