"""DDIM (Song, Meng & Ermon 2021) on any process, as one `lax.scan` on device.

The few-step samplers (this one, `heun`, `dpm_solver`) use the data prediction D(x, t) =
E[x_0 | x_t] of the score function (`conversions.denoiser_of`) on x_t = a(t) x_0 + s(t) z, so
they work for every process. The prior draw comes from `rng` itself, as in `sample_ode`, so
all the deterministic samplers start from the same x_T for the same seed.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs, error_if_nonfinite
from score_sde.conversions import denoiser_of
from score_sde.noise import per_example_normal
from score_sde.ode_solvers import batch_time
from score_sde.sde import SDE, get_timesteps, posterior_step
from score_sde.sde.schedules import check_schedule


def scalar_coefficients(sde: SDE, t: Array) -> tuple[Array, Array]:
    """(a(t), s(t)) as scalars for a scalar time t."""
    a, s = sde.marginal_coefficients(jnp.reshape(t, (1,)))
    return a[0], s[0]


def finish(sde: SDE, score_fn: ScoreFn, x: Array, eps: float, denoise: bool, name: str) -> Array:
    """The optional final denoising step at eps, and the check for non-finite samples."""
    if denoise:
        x = denoiser_of(sde, score_fn)(x, batch_time(eps, x))
    return error_if_nonfinite(x, name)


def resolve_schedule(sde: SDE, schedule: str | None) -> str:
    schedule = sde.default_schedule if schedule is None else schedule
    check_schedule(schedule)
    return schedule


@eqx.filter_jit
def _ddim(rng, sde, score_fn, shape, num_steps, eps, schedule, denoise, eta):
    noise_rng = jax.random.split(rng)[1]
    times = get_timesteps(sde, num_steps, eps, schedule)
    denoiser = denoiser_of(sde, score_fn)

    def step(x, inputs):
        i, t, s_time = inputs
        a_t, s_t = scalar_coefficients(sde, t)
        a_s, s_s = scalar_coefficients(sde, s_time)
        x0 = denoiser(x, batch_time(t, x))
        z = per_example_normal(jax.random.fold_in(noise_rng, i), x.shape)
        return posterior_step(x, x0, a_t, s_t, a_s, s_s, eta, z)[0], None

    x = sde.prior_sampling(rng, shape)
    x, _ = jax.lax.scan(step, x, (jnp.arange(num_steps), times[:-1], times[1:]))
    return finish(sde, score_fn, x, eps, denoise, "sample_ddim")


def sample_ddim(
    rng: Array,
    sde: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    num_steps: int = 50,
    eta: float = 0.0,
    schedule: str | None = None,
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """DDIM on the times of `schedule` (None: the process's `default_schedule`).

    x_s = a_s x0 + sqrt(s_s^2 - c^2) eps_hat + c z with c^2 = eta^2 (s_s^2 / s_t^2) Var(x_t | x_s):
    eta = 0 is deterministic (first order in the step for the probability-flow ODE), eta = 1
    the ancestral sampler. With a = 1 (VE, EDM) eta = 0 is the Euler step of the probability
    flow in sigma.

    Returns samples (B, *event) and nfe = num_steps (+1 with `denoise`).
    """
    check_positive_int(num_steps, "num_steps")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1]; got {eta!r}")
    shape, eps = check_sampler_inputs(sde, score_fn, shape, eps)
    schedule = resolve_schedule(sde, schedule)
    x = _ddim(rng, sde, score_fn, shape, int(num_steps), eps, schedule, bool(denoise), float(eta))
    return x, jnp.asarray(num_steps + int(denoise), jnp.int32)
