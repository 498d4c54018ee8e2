"""DPM-Solver++ (Lu et al. 2022) with data prediction, first order or 2M, on any process."""

import dataclasses
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs
from score_sde.conversions import denoiser_of
from score_sde.ode_solvers import batch_time
from score_sde.sampling.ddim import finish, scalar_coefficients
from score_sde.sampling.samplers import Sampler, config_schedule, config_steps, register
from score_sde.sde import SDE, get_timesteps
from score_sde.sde.schedules import check_schedule
from score_sde.settings import Setting, choice


@eqx.filter_jit
def _dpm_solver(rng, process, score_fn, shape, sampler: "DPMSolver", eps: float):
    times = get_timesteps(process, sampler.num_steps, eps, sampler.schedule)
    half_lams = 0.5 * process.log_snr(times)  # log(a / s)
    denoiser = denoiser_of(process, score_fn)

    def step(carry, inputs):
        x, x0_previous, h_previous = carry
        i, t, t_next, lam, lam_next = inputs
        _, s_t = scalar_coefficients(process, t)
        a_next, s_next = scalar_coefficients(process, t_next)
        x0 = denoiser(x, batch_time(t, x))
        h = lam_next - lam
        if sampler.order == 2:  # multistep correction from the previous data prediction (first step: order 1)
            r = h_previous / h
            corrected = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_previous
            x0_used = jnp.where(i == 0, x0, corrected)
        else:
            x0_used = x0
        x_next = (s_next / s_t) * x - a_next * jnp.expm1(-h) * x0_used
        return (x_next, x0, h), None

    x = process.prior_sampling(rng, shape)
    carry = (x, jnp.zeros_like(x), jnp.ones((), x.dtype))
    inputs = (jnp.arange(sampler.num_steps), times[:-1], times[1:], half_lams[:-1], half_lams[1:])
    (x, _, _), _ = jax.lax.scan(step, carry, inputs)
    return finish(process, score_fn, x, eps, sampler.denoise, "sample_dpm_solver")


@register
@final
@dataclasses.dataclass(frozen=True)
class DPMSolver(Sampler):
    """DPM-Solver++ with data prediction: order 1 (= DDIM) or 2M (multistep), on `schedule`.

    With the half log-SNR l = log(a / s) and h = l_next - l_t, x_next = (s_next / s_t) x -
    a_next (exp(-h) - 1) D, where for 2M D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}, r = h_{i-1} / h_i
    (the first step first order). nfe = num_steps (+1 with `denoise`).
    """

    name: ClassVar[str] = "dpm_solver"
    num_steps: int = 20
    order: int = 2
    schedule: str = "log_snr_uniform"
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        check_positive_int(self.num_steps, "num_steps")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2 (DPM-Solver++ 2M); got {self.order!r}")
        check_schedule(self.schedule)

    @classmethod
    def from_config(cls, sampling) -> "DPMSolver":
        return cls(
            num_steps=config_steps(sampling) or cls.num_steps,
            order=int(sampling.order),
            schedule=config_schedule(sampling) or cls.schedule,
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        shape, eps = check_sampler_inputs(process, score_fn, shape, self.eps)
        resolved = DPMSolver(int(self.num_steps), int(self.order), self.schedule, eps, bool(self.denoise))
        x = _dpm_solver(rng, process, score_fn, shape, resolved, eps)
        return x, jnp.asarray(self.num_steps + int(self.denoise), jnp.int32)

    @property
    def marginal_score_use(self) -> str:
        return ""


def sample_dpm_solver(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    num_steps: int = 20,
    order: int = 2,
    schedule: str = "log_snr_uniform",
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """`DPMSolver` with these settings: samples (B, *event) and nfe = num_steps (+1 with `denoise`)."""
    return DPMSolver(num_steps, order, schedule, eps, denoise)(rng, process, score_fn, shape)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.order": Setting(2, "dpm_solver: 1 or 2 (2M)", choice(1, 2)),
}
