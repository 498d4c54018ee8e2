"""DDIM (Song, Meng & Ermon 2021) on any process, as one `lax.scan` on device.

The few-step samplers (this one, `heun`, `dpm_solver`) use the data prediction D(x, t) =
E[x_0 | x_t] of the score function (`conversions.denoiser_of`) on x_t = a(t) x_0 + s(t) z, so
they work for every process. The prior draw comes from `rng` itself, as in `sample_ode`, so
all the deterministic samplers start from the same x_T for the same seed.
"""

import dataclasses
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs, error_if_nonfinite
from score_sde.conversions import denoiser_of
from score_sde.noise import per_example_normal
from score_sde.ode_solvers import batch_time
from score_sde.sampling.samplers import Sampler, config_schedule, config_steps, register
from score_sde.sde import SDE, get_timesteps, posterior_step
from score_sde.sde.schedules import resolve_schedule
from score_sde.settings import UNIT, Setting


def scalar_coefficients(process: SDE, t: Array) -> tuple[Array, Array]:
    """(a(t), s(t)) as scalars for a scalar time t."""
    a, s = process.marginal_coefficients(jnp.reshape(t, (1,)))
    return a[0], s[0]


def finish(process: SDE, score_fn: ScoreFn, x: Array, eps: float, denoise: bool, name: str) -> Array:
    """The optional final denoising step at eps, and the check for non-finite samples."""
    if denoise:
        x = denoiser_of(process, score_fn)(x, batch_time(eps, x))
    return error_if_nonfinite(x, name)


@eqx.filter_jit
def _ddim(rng, process, score_fn, shape, sampler: "DDIM", eps: float, schedule: str):
    noise_rng = jax.random.split(rng)[1]
    times = get_timesteps(process, sampler.num_steps, eps, schedule)
    denoiser = denoiser_of(process, score_fn)

    def step(x, inputs):
        i, t, s_time = inputs
        a_t, s_t = scalar_coefficients(process, t)
        a_s, s_s = scalar_coefficients(process, s_time)
        x0 = denoiser(x, batch_time(t, x))
        z = per_example_normal(jax.random.fold_in(noise_rng, i), x.shape)
        return posterior_step(x, x0, a_t, s_t, a_s, s_s, sampler.eta, z)[0], None

    x = process.prior_sampling(rng, shape)
    x, _ = jax.lax.scan(step, x, (jnp.arange(sampler.num_steps), times[:-1], times[1:]))
    return finish(process, score_fn, x, eps, sampler.denoise, "sample_ddim")


@register
@final
@dataclasses.dataclass(frozen=True)
class DDIM(Sampler):
    """DDIM on the times of `schedule` (None: the process's `default_schedule`).

    x_s = a_s x0 + sqrt(s_s^2 - c^2) eps_hat + c z with c^2 = eta^2 (s_s^2 / s_t^2) Var(x_t | x_s):
    eta = 0 is deterministic (first order in the step for the probability-flow ODE), eta = 1
    the ancestral sampler. With a = 1 (VE, EDM) eta = 0 is the Euler step of the probability
    flow in sigma. nfe = num_steps (+1 with `denoise`).
    """

    name: ClassVar[str] = "ddim"
    num_steps: int = 50
    eta: float = 0.0
    schedule: str | None = None
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        check_positive_int(self.num_steps, "num_steps")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1]; got {self.eta!r}")

    @classmethod
    def from_config(cls, sampling) -> "DDIM":
        return cls(
            num_steps=config_steps(sampling) or cls.num_steps,
            eta=float(sampling.eta),
            schedule=config_schedule(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        shape, eps = check_sampler_inputs(process, score_fn, shape, self.eps)
        schedule = resolve_schedule(process, self.schedule)
        resolved = DDIM(int(self.num_steps), float(self.eta), schedule, eps, bool(self.denoise))
        x = _ddim(rng, process, score_fn, shape, resolved, eps, schedule)
        return x, jnp.asarray(self.num_steps + int(self.denoise), jnp.int32)

    @property
    def marginal_score_use(self) -> str:
        return "DDIM's noise (eta > 0)" if self.eta > 0.0 else ""


def sample_ddim(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    num_steps: int = 50,
    eta: float = 0.0,
    schedule: str | None = None,
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """`DDIM` with these settings: samples (B, *event) and nfe = num_steps (+1 with `denoise`)."""
    return DDIM(num_steps, eta, schedule, eps, denoise)(rng, process, score_fn, shape)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.eta": Setting(0.0, "ddim: 0 deterministic, 1 ancestral", UNIT),
}
