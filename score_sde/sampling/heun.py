"""EDM's second-order Heun sampler (Karras et al. 2022, Algorithm 2) on any process."""

import dataclasses
import math
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs, error_if_nonfinite
from score_sde.conversions import denoiser_of
from score_sde.noise import per_example_normal
from score_sde.ode_solvers import batch_time
from score_sde.sampling.ddim import finish, scalar_coefficients
from score_sde.sampling.samplers import Sampler, config_schedule, config_steps, register
from score_sde.sde import SDE, get_timesteps
from score_sde.sde.schedules import check_schedule
from score_sde.settings import NON_NEGATIVE, POSITIVE, Setting


@eqx.filter_jit
def _heun(rng, process, score_fn, shape, sampler: "Heun", eps: float):
    num_steps, S_min, S_max, S_noise = sampler.num_steps, sampler.S_min, sampler.S_max, sampler.S_noise
    noise_rng = jax.random.split(rng)[1]
    times = get_timesteps(process, num_steps - 1, eps, sampler.schedule, sampler.rho)
    sigma_of = lambda t: jnp.exp(-0.5 * process.log_snr(jnp.reshape(t, (1,)))[0])  # sigma~ = s / a
    sigma_max = sigma_of(times[0])
    gamma_max = min(sampler.S_churn / num_steps, np.sqrt(2.0) - 1.0)
    denoiser = denoiser_of(process, score_fn)

    def denoised(y, sigma):
        """D(y; sigma) for y = x / a in the scaled space, via the denoiser at the time of sigma."""
        t = process.inverse_log_snr(-2.0 * jnp.log(sigma))
        a, _ = scalar_coefficients(process, t)
        return denoiser(a * y, batch_time(t, y))

    def churn(y, i, sigma):
        """EDM's raised level sigma_hat and y with the noise that brings it there; with gamma = 0 exactly
        (y, sigma): no noise, not the round-off of sigma_hat^2 - sigma^2."""
        if gamma_max == 0.0:  # the deterministic sampler draws no noise at all
            return y, sigma
        churned = (sigma >= S_min) & (sigma <= S_max)
        sigma_hat = jnp.where(churned, jnp.minimum(sigma * (1.0 + gamma_max), sigma_max), sigma)  # inside [eps, T]
        z = per_example_normal(jax.random.fold_in(noise_rng, i), y.shape)
        noise_std = jnp.where(churned, jnp.sqrt(jnp.maximum(sigma_hat**2 - sigma**2, 0.0)) * S_noise, 0.0)
        return y + noise_std * z, sigma_hat

    def step(y, inputs):
        i, t, t_next = inputs
        sigma, sigma_next = sigma_of(t), sigma_of(t_next)
        y, sigma_hat = churn(y, i, sigma)
        d = (y - denoised(y, sigma_hat)) / sigma_hat
        y_euler = y + (sigma_next - sigma_hat) * d
        d_next = (y_euler - denoised(y_euler, sigma_next)) / sigma_next
        return y + (sigma_next - sigma_hat) * 0.5 * (d + d_next), None

    a_T, _ = scalar_coefficients(process, times[0])
    y = process.prior_sampling(rng, shape) / a_T
    y, _ = jax.lax.scan(step, y, (jnp.arange(num_steps - 1), times[:-1], times[1:]))
    if sampler.denoise and gamma_max > 0.0:  # EDM's last step, the Euler step to sigma = 0, from the churned last level
        y, sigma_hat = churn(y, num_steps - 1, sigma_of(times[-1]))
        return error_if_nonfinite(denoised(y, sigma_hat), "sample_heun")
    return finish(
        process, score_fn, y * scalar_coefficients(process, times[-1])[0], eps, sampler.denoise, "sample_heun"
    )


@register
@final
@dataclasses.dataclass(frozen=True)
class Heun(Sampler):
    """EDM's Heun sampler for any process, counting steps as EDM does.

    Integrates the probability flow of y = x / a in sigma~ = s / a (dy/dsigma = (y - D(y)) /
    sigma) over `num_steps` noise levels from T to eps, on the Karras grid (rho = 7) by default:
    num_steps - 1 Heun steps between them; `denoise` then takes EDM's last step, the Euler step
    from sigma~(eps) to sigma = 0, which is D at eps. EDM's 18 steps are 35 NFE. S_churn > 0 adds
    EDM's stochastic churn (gamma = min(S_churn / num_steps, sqrt(2) - 1) for sigma~ in
    [S_min, S_max], the raised sigma capped at sigma~(T)) at every level, the last one too when
    `denoise` (EDM's `edm_sampler`); with S_churn = 0 the sampler adds no noise at all.
    nfe = 2 (num_steps - 1) (+1 with `denoise`).
    """

    name: ClassVar[str] = "heun"
    num_steps: int = 18
    schedule: str = "karras"
    rho: float = 7.0
    S_churn: float = 0.0
    S_min: float = 0.0
    S_max: float = float("inf")
    S_noise: float = 1.0
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        check_positive_int(self.num_steps, "num_steps")
        if self.num_steps < 2:
            raise ValueError(
                f"num_steps={self.num_steps}: the Heun sampler needs at least 2 noise levels (T and eps; "
                "config.sampling.num_steps 0: EDM's 18)"
            )
        check_schedule(self.schedule)

    @classmethod
    def from_config(cls, sampling) -> "Heun":
        return cls(
            num_steps=config_steps(sampling) or cls.num_steps,
            schedule=config_schedule(sampling) or cls.schedule,
            rho=float(sampling.rho),
            S_churn=float(sampling.S_churn),
            S_min=float(sampling.S_min),
            S_max=float(sampling.S_max),
            S_noise=float(sampling.S_noise),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        shape, eps = check_sampler_inputs(process, score_fn, shape, self.eps)
        settings = (self.rho, self.S_churn, self.S_min, self.S_max, self.S_noise)
        resolved = Heun(int(self.num_steps), self.schedule, *(float(v) for v in settings), eps, bool(self.denoise))
        x = _heun(rng, process, score_fn, shape, resolved, eps)
        return x, jnp.asarray(2 * (self.num_steps - 1) + int(self.denoise), jnp.int32)

    @property
    def marginal_score_use(self) -> str:
        return "EDM's churn (S_churn > 0)" if self.S_churn > 0.0 else ""


def sample_heun(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    num_steps: int = 18,
    schedule: str = "karras",
    rho: float = 7.0,
    S_churn: float = 0.0,
    S_min: float = 0.0,
    S_max: float = float("inf"),
    S_noise: float = 1.0,
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """`Heun` with these settings: samples (B, *event) and nfe = 2 (num_steps - 1) (+1 with `denoise`)."""
    sampler = Heun(num_steps, schedule, rho, S_churn, S_min, S_max, S_noise, eps, denoise)
    return sampler(rng, process, score_fn, shape)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.rho": Setting(7.0, "heun: the exponent of the karras grid", POSITIVE),
    "sampling.S_churn": Setting(0.0, "heun: EDM's stochastic churn", NON_NEGATIVE),
    "sampling.S_min": Setting(0.0, "heun: churn only for sigma~ >= S_min", NON_NEGATIVE, below="sampling.S_max"),
    "sampling.S_max": Setting(math.inf, "heun: churn only for sigma~ <= S_max", NON_NEGATIVE),
    "sampling.S_noise": Setting(1.0, "heun: scale of the churn's noise", NON_NEGATIVE),
}
