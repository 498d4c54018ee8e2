"""Conversions between the quantities a network can predict, on a path x_t = a x_0 + s z.

With D = E[x_0 | x_t = x] (the denoiser), Tweedie's formula gives the score, and the others
follow from x = a x_0 + s eps:

  score    = (a D - x) / s^2                 D = (x + s^2 score) / a
  eps      = (x - a D) / s                   D = (x - s eps) / a
  v        = (a eps - s D) / r,  r = sqrt(a^2 + s^2)   (Salimans & Ho; on VP paths r = 1)
                                             D = (a x / r - s v) / r
  velocity = a' D + s' eps                   (dx/dt of the probability flow, flow matching)
                                             D = (s' x - s velocity) / (a s' - s a')

Every coefficient (a, s, a', s') is an array that broadcasts against x (see `batch_broadcast`).
"""

import jax.numpy as jnp

from score_sde._types import Array


def score_from_denoiser(x: Array, denoised: Array, a, s) -> Array:
    return (a * denoised - x) / s**2


def denoiser_from_score(x: Array, score: Array, a, s) -> Array:
    return (x + s**2 * score) / a


def eps_from_denoiser(x: Array, denoised: Array, a, s) -> Array:
    return (x - a * denoised) / s


def denoiser_from_eps(x: Array, eps: Array, a, s) -> Array:
    return (x - s * eps) / a


def v_from_denoiser(x: Array, denoised: Array, a, s) -> Array:
    r2 = a**2 + s**2
    return (a * x - r2 * denoised) / (s * r2**0.5)


def denoiser_from_v(x: Array, v: Array, a, s) -> Array:
    r2 = a**2 + s**2
    return (a * x - s * r2**0.5 * v) / r2


def velocity_from_denoiser(x: Array, denoised: Array, a, s, da, ds) -> Array:
    return da * denoised + ds * (x - a * denoised) / s


def denoiser_from_velocity(x: Array, velocity: Array, a, s, da, ds) -> Array:
    return (ds * x - s * velocity) / (a * ds - s * da)


def denoiser_of(process, score_fn):
    """D(x, t) of a score function on `process`: its own `denoise` method where it has one (a
    network with its parameterisation, the oracle), else Tweedie's (x + s^2 score) / a."""
    own = getattr(score_fn, "denoise", None)
    if own is not None:
        return own

    def denoise(x: Array, t: Array) -> Array:
        a, s = process.marginal_coefficients(t)
        a, s = (jnp.reshape(v, v.shape + (1,) * (x.ndim - 1)) for v in (a, s))
        return denoiser_from_score(x, score_fn(x, t), a, s)

    return denoise


def denoiser_across(process, source_process, source_denoise):
    """D(x, t) on `process` of a denoiser `source_denoise` on `source_process`: the same x_0-estimate at
    the same noise level sigma~ = s / a, the source fed its time t' of that log-SNR and its scale,
    a'(t') x / a(t)."""

    def denoise(x: Array, t: Array) -> Array:
        source_t = source_process.inverse_log_snr(process.log_snr(t))
        a = process.marginal_coefficients(t)[0]
        source_a = source_process.marginal_coefficients(source_t)[0]
        ratio = jnp.reshape(source_a / a, (-1,) + (1,) * (x.ndim - 1))
        return source_denoise(ratio * x, source_t)

    return denoise
