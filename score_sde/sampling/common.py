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


def posterior_step(x: Array, x0: Array, a_t, s_t, a_s, s_s, eta: float, z: Array) -> tuple[Array, Array]:
    """One DDIM step from time t to s < t, coefficients (a, s) of x = a x_0 + s z broadcasting against x.

    x_s = a_s x0 + sqrt(s_s^2 - c^2) (x - a_t x0) / s_t + c z with c^2 = eta^2 (s_s^2 / s_t^2)
    Var(x_t | x_s); eta = 1 is the exact Gaussian posterior p(x_s | x_t, x_0 = x0) (ancestral).
    Returns (x_s, its mean without the noise).
    """
    c = eta * s_s / s_t * jnp.sqrt(jnp.maximum(s_t**2 - (a_t / a_s) ** 2 * s_s**2, 0.0))
    x_mean = a_s * x0 + jnp.sqrt(jnp.maximum(s_s**2 - c**2, 0.0)) * (x - a_t * x0) / s_t
    return x_mean + c * z, x_mean
