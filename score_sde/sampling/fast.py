"""Few-step samplers of the probability-flow ODE (and its stochastic variants), on device.

All use the data prediction x0(x, t) = (x + s(t)^2 score(x, t)) / a(t) and eps(x, t) =
-s(t) score(x, t), with x_t = a(t) x_0 + s(t) z from `sde.marginal_prob`, so they work for
every SDE here. Each is a `lax.scan` over the schedule of `schedules.get_timesteps` and
returns (samples, nfe). The prior draw comes from `rng` itself, as in `sample_ode`, so all the
deterministic samplers start from the same x_T for the same seed.
"""

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.checks import check_positive_int, error_if_nonfinite
from score_sde.noise import per_example_normal
from score_sde.sampling.common import check_sampler_inputs, posterior_step, tweedie_denoise
from score_sde.sampling.schedules import get_timesteps
from score_sde.sde import SDE

Array = jax.Array
ScoreFn = Callable[[Array, Array], Array]


def _coefficients(sde: SDE, t: Array) -> tuple[Array, Array]:
    a, s = sde.marginal_coefficients(jnp.reshape(t, (1,)))
    return a[0], s[0]


def _finish(sde, score_fn, x, eps, denoise, name):
    if denoise:
        x = tweedie_denoise(sde, score_fn, x, eps)
    return error_if_nonfinite(x, name)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7))
def _ddim(rng, sde, score_fn, shape, num_steps, eps, schedule, denoise, eta):
    noise_rng = jax.random.split(rng)[1]
    times = get_timesteps(sde, num_steps, eps, schedule)

    def step(x, inputs):
        i, t, s_time = inputs
        a_t, s_t = _coefficients(sde, t)
        a_s, s_s = _coefficients(sde, s_time)
        x0 = tweedie_denoise(sde, score_fn, x, t)
        z = per_example_normal(jax.random.fold_in(noise_rng, i), x.shape)
        return posterior_step(x, x0, a_t, s_t, a_s, s_s, eta, z)[0], None

    x = sde.prior_sampling(rng, shape)
    x, _ = jax.lax.scan(step, x, (jnp.arange(num_steps), times[:-1], times[1:]))
    return _finish(sde, score_fn, x, eps, denoise, "sample_ddim")


def sample_ddim(
    rng: Array, sde: SDE, score_fn: ScoreFn, shape: tuple[int, ...], *, num_steps: int = 50, eta: float = 0.0,
    schedule: str = "time_uniform", eps: float = 1e-3, denoise: bool = False,
) -> tuple[Array, int]:
    """DDIM (Song, Meng & Ermon 2021) on the times of `schedule`.

    x_s = a_s x0 + sqrt(s_s^2 - c^2) eps_hat + c z with c^2 = eta^2 (s_s^2 / s_t^2) Var(x_t | x_s):
    eta = 0 is deterministic (first order in the step for the probability-flow ODE), eta = 1
    the ancestral sampler. Meant for VP and sub-VP; with the VE SDE (a = 1) eta = 0 is the Euler
    step of the probability flow in sigma.

    Returns samples (B, *event) and nfe = num_steps (+1 with `denoise`).
    """
    check_positive_int(num_steps, "num_steps")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1]; got {eta!r}")
    shape = check_sampler_inputs(sde, score_fn, shape, eps)
    get_timesteps(sde, 1, eps, schedule)
    x = _ddim(rng, sde, score_fn, shape, int(num_steps), float(eps), schedule, bool(denoise), float(eta))
    return x, num_steps + int(denoise)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
def _heun(rng, sde, score_fn, shape, num_steps, eps, schedule, denoise, rho, S_churn, S_min, S_max, S_noise):
    noise_rng = jax.random.split(rng)[1]
    times = get_timesteps(sde, num_steps, eps, schedule, rho)
    sigma_of = lambda t: jnp.exp(-sde.log_snr(jnp.reshape(t, (1,)))[0])  # sigma~ = s / a
    sigma_max = sigma_of(times[0])
    gamma_max = min(S_churn / num_steps, np.sqrt(2.0) - 1.0)

    def denoised(y, sigma):
        """D(y; sigma) for y = x / a in the scaled space, via the score at the time of sigma."""
        t = sde.inverse_log_snr(-jnp.log(sigma))
        a, _ = _coefficients(sde, t)
        return tweedie_denoise(sde, score_fn, a * y, t)

    def step(y, inputs):
        i, t, t_next = inputs
        sigma, sigma_next = sigma_of(t), sigma_of(t_next)
        gamma = jnp.where((sigma >= S_min) & (sigma <= S_max), gamma_max, 0.0)
        sigma_hat = jnp.minimum(sigma * (1.0 + gamma), sigma_max)  # stay inside [eps, T]
        z = per_example_normal(jax.random.fold_in(noise_rng, i), y.shape)
        y = y + jnp.sqrt(jnp.maximum(sigma_hat**2 - sigma**2, 0.0)) * S_noise * z
        d = (y - denoised(y, sigma_hat)) / sigma_hat
        y_euler = y + (sigma_next - sigma_hat) * d
        d_next = (y_euler - denoised(y_euler, sigma_next)) / sigma_next
        return y + (sigma_next - sigma_hat) * 0.5 * (d + d_next), None

    a_T, _ = _coefficients(sde, times[0])
    y = sde.prior_sampling(rng, shape) / a_T
    y, _ = jax.lax.scan(step, y, (jnp.arange(num_steps), times[:-1], times[1:]))
    x = y * _coefficients(sde, times[-1])[0]
    return _finish(sde, score_fn, x, eps, denoise, "sample_heun")


def sample_heun(
    rng: Array, sde: SDE, score_fn: ScoreFn, shape: tuple[int, ...], *, num_steps: int = 18,
    schedule: str = "karras", rho: float = 7.0, S_churn: float = 0.0, S_min: float = 0.0,
    S_max: float = float("inf"), S_noise: float = 1.0, eps: float = 1e-3, denoise: bool = True,
) -> tuple[Array, int]:
    """EDM second-order Heun sampler (Karras et al. 2022, Algorithm 2) for any SDE here.

    Integrates the probability flow of y = x / a in sigma~ = s / a (dy/dsigma = (y - D(y)) /
    sigma) on the Karras grid (rho = 7) by default; S_churn > 0 adds EDM's stochastic churn
    (gamma = min(S_churn / num_steps, sqrt(2) - 1) for sigma in [S_min, S_max], the raised
    sigma capped at sigma~(T)). `denoise` ends with D at eps, EDM's final step to sigma = 0.

    Returns samples (B, *event) and nfe = 2 num_steps (+1 with `denoise`).
    """
    check_positive_int(num_steps, "num_steps")
    shape = check_sampler_inputs(sde, score_fn, shape, eps)
    get_timesteps(sde, 1, eps, schedule, rho)
    x = _heun(rng, sde, score_fn, shape, int(num_steps), float(eps), schedule, bool(denoise), float(rho),
              float(S_churn), float(S_min), float(S_max), float(S_noise))
    return x, 2 * num_steps + int(denoise)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7, 8))
def _dpm_solver(rng, sde, score_fn, shape, num_steps, eps, schedule, denoise, order):
    times = get_timesteps(sde, num_steps, eps, schedule)
    lams = sde.log_snr(times)

    def step(carry, inputs):
        x, x0_previous, h_previous = carry
        i, t, t_next, lam, lam_next = inputs
        _, s_t = _coefficients(sde, t)
        a_next, s_next = _coefficients(sde, t_next)
        x0 = tweedie_denoise(sde, score_fn, x, t)
        h = lam_next - lam
        if order == 2:  # multistep correction from the previous data prediction (first step: order 1)
            r = h_previous / h
            corrected = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_previous
            x0_used = jnp.where(i == 0, x0, corrected)
        else:
            x0_used = x0
        x_next = (s_next / s_t) * x - a_next * jnp.expm1(-h) * x0_used
        return (x_next, x0, h), None

    x = sde.prior_sampling(rng, shape)
    carry = (x, jnp.zeros_like(x), jnp.ones((), x.dtype))
    (x, _, _), _ = jax.lax.scan(step, carry, (jnp.arange(num_steps), times[:-1], times[1:], lams[:-1], lams[1:]))
    return _finish(sde, score_fn, x, eps, denoise, "sample_dpm_solver")


def sample_dpm_solver(
    rng: Array, sde: SDE, score_fn: ScoreFn, shape: tuple[int, ...], *, num_steps: int = 20, order: int = 2,
    schedule: str = "log_snr_uniform", eps: float = 1e-3, denoise: bool = False,
) -> tuple[Array, int]:
    """DPM-Solver++ (Lu et al. 2022) with data prediction: order 1 (= DDIM) or 2M (multistep).

    x_next = (s_next / s_t) x - a_next (exp(-h) - 1) D with h = lambda_next - lambda_t, and for
    2M D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}, r = h_{i-1} / h_i (first step first order).

    Returns samples (B, *event) and nfe = num_steps (+1 with `denoise`).
    """
    check_positive_int(num_steps, "num_steps")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2 (DPM-Solver++ 2M); got {order!r}")
    shape = check_sampler_inputs(sde, score_fn, shape, eps)
    get_timesteps(sde, 1, eps, schedule)
    x = _dpm_solver(rng, sde, score_fn, shape, int(num_steps), float(eps), schedule, bool(denoise), int(order))
    return x, num_steps + int(denoise)
