"""DPM-Solver++ (Lu et al. 2022) with data prediction, first order or 2M, on any process."""

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs
from score_sde.conversions import denoiser_of
from score_sde.ode_solvers import batch_time
from score_sde.sampling.ddim import finish, scalar_coefficients
from score_sde.sde import SDE, get_timesteps
from score_sde.sde.schedules import check_schedule


@eqx.filter_jit
def _dpm_solver(rng, sde, score_fn, shape, num_steps, eps, schedule, denoise, order):
    times = get_timesteps(sde, num_steps, eps, schedule)
    half_lams = 0.5 * sde.log_snr(times)  # log(a / s)
    denoiser = denoiser_of(sde, score_fn)

    def step(carry, inputs):
        x, x0_previous, h_previous = carry
        i, t, t_next, lam, lam_next = inputs
        _, s_t = scalar_coefficients(sde, t)
        a_next, s_next = scalar_coefficients(sde, t_next)
        x0 = denoiser(x, batch_time(t, x))
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
    inputs = (jnp.arange(num_steps), times[:-1], times[1:], half_lams[:-1], half_lams[1:])
    (x, _, _), _ = jax.lax.scan(step, carry, inputs)
    return finish(sde, score_fn, x, eps, denoise, "sample_dpm_solver")


def sample_dpm_solver(
    rng: Array,
    sde: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    num_steps: int = 20,
    order: int = 2,
    schedule: str = "log_snr_uniform",
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """DPM-Solver++ with data prediction: order 1 (= DDIM) or 2M (multistep).

    With the half log-SNR l = log(a / s) and h = l_next - l_t, x_next = (s_next / s_t) x -
    a_next (exp(-h) - 1) D, where for 2M D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}, r = h_{i-1} / h_i
    (the first step first order).

    Returns samples (B, *event) and nfe = num_steps (+1 with `denoise`).
    """
    check_positive_int(num_steps, "num_steps")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2 (DPM-Solver++ 2M); got {order!r}")
    shape, eps = check_sampler_inputs(sde, score_fn, shape, eps)
    check_schedule(schedule)
    x = _dpm_solver(rng, sde, score_fn, shape, int(num_steps), eps, schedule, bool(denoise), int(order))
    return x, jnp.asarray(num_steps + int(denoise), jnp.int32)
