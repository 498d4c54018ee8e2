"""Consistency distillation (Song, Dhariwal, Chen & Sutskever, ICML 2023) on any Gaussian path.

Everything lives in EDM's scaled space x~ = x / a with sigma~ = s / a = exp(-lambda / 2), where
every path is the VE one. The student is a consistency function f(x, t) ~ the end x_eps / a(eps)
of the probability-flow ODE through (x, t):
  f = c_skip(sigma~) x~ + c_out(sigma~) F(c_in x~, c_noise),
  c_skip = sd^2 / ((sigma~ - sigma_min)^2 + sd^2), c_out = (sigma~ - sigma_min) sd / sqrt(sigma~^2 + sd^2),
  c_in = 1 / sqrt(sigma~^2 + sd^2), sigma_min = sigma~(eps), sd = sigma_data,
so f(x, eps) = x / a(eps) for any network (the boundary condition). It is trained on adjacent
times t_n < t_{n+1} of an N-point Karras grid (`consistency_time`): from x_{t_{n+1}} = a x_0 + s z,
one Heun step of the teacher's probability-flow ODE gives x^_{t_n}, and the student at
(x_{t_{n+1}}, t_{n+1}) is pulled towards the target network f_theta- (an EMA of the student) at
(x^_{t_n}, t_n). N is fixed (the paper's CD: 18) or grows with training (`num_points_schedule`).
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import NFE, Array, DenoiserFn
from score_sde.parameterization import NOISE_CONDITIONS, PARAMETERIZATIONS, Parameterization, get_parameterization
from score_sde.sde import SDE, batch_broadcast
from score_sde.settings import Setting, choice_of

METRICS = ("l2", "l1")


def _sigma(process: SDE, t: Array) -> Array:
    """sigma~(t) = s / a."""
    return jnp.exp(-0.5 * process.log_snr(t))


def _scaled(process: SDE, t: Array, x: Array) -> tuple[Array, Array]:
    """(a, sigma~) broadcasting against x."""
    a, s = process.marginal_coefficients(t)
    return batch_broadcast(a, x), batch_broadcast(s / a, x)


@PARAMETERIZATIONS.register("consistency")
@dataclasses.dataclass(frozen=True)
class ConsistencyParameterization(Parameterization):
    """f(x, t) = c_skip x~ + c_out F(c_in x~, c_noise) with the boundary f(x, eps) = x / a(eps) (see
    the module docstring); `noise_condition` as the other parameterisations': "log_sigma"
    c_noise = 1/4 ln sigma~, "sigma" sigma~, "time" 999 t / T.

    With a `base` parameterisation (its denoiser D = skip x + out F), the student is instead
    f = c_skip x~ + (1 - c_skip) D, fed as the base feeds its network: the same boundary, and a
    student initialised from a teacher of that parameterisation starts as the teacher's denoiser.
    """

    sigma_data: float = 0.5
    eps: float = 1e-3
    noise_condition: str = "log_sigma"
    base: Parameterization | None = None
    name: ClassVar[str] = "consistency"
    native_weighting: ClassVar[str] = "x0"
    default_weighting: ClassVar[str] = "x0"

    def __post_init__(self):
        if not self.sigma_data > 0:
            raise ValueError(f"sigma_data must be positive; got {self.sigma_data!r}")
        if self.noise_condition not in NOISE_CONDITIONS:
            raise ValueError(f"noise_condition={self.noise_condition!r}: choose from {NOISE_CONDITIONS}")

    @classmethod
    def from_config(cls, config, process: SDE, noise_condition: str) -> "ConsistencyParameterization":
        """config.model.sigma_data, the boundary at config.sampling.eps (where samples end), and the
        base parameterisation config.distill.student_output ("raw": none; "auto": the process's own)."""
        base = None
        if config.distill.student_output != "raw":
            base_config = config.copy_and_resolve_references()
            base_config.model.parameterization = str(config.distill.student_output)
            base = get_parameterization(base_config, process)
        return cls(float(config.model.sigma_data), float(config.sampling.eps), noise_condition, base)

    def network_inputs(self, process, x, t):
        if self.base is not None:
            return self.base.network_inputs(process, x, t)
        a, sigma = _scaled(process, t, x)
        if self.noise_condition == "log_sigma":
            c_noise = -0.125 * process.log_snr(t)
        elif self.noise_condition == "sigma":
            c_noise = _sigma(process, t)
        else:
            c_noise = 999.0 * t / process.T
        return x / (a * jnp.sqrt(sigma**2 + self.sigma_data**2)), c_noise

    def output_coefficients(self, process, t, x):
        a, sigma = _scaled(process, t, x)
        sigma_min = _sigma(process, jnp.asarray([self.eps], jnp.float32))[0]
        sd2 = self.sigma_data**2
        c_skip = sd2 / ((sigma - sigma_min) ** 2 + sd2)
        if self.base is not None:  # f = c_skip x~ + (1 - c_skip) D with D = skip x + out F, the base's denoiser
            skip, out = self.base.output_coefficients(process, t, x)
            return c_skip / a + (1.0 - c_skip) * skip, (1.0 - c_skip) * out
        c_out = (sigma - sigma_min) * self.sigma_data / jnp.sqrt(sigma**2 + sd2)
        return c_skip / a, c_out


def consistency_time(process: SDE, index: Array, num_points, eps: float, rho: float = 7.0) -> Array:
    """t_{index+1} of the N-point Karras grid t_1 = eps < ... < t_N = T, equally spaced in
    sigma~^(1/rho); `index` in [0, N - 1] and `num_points` N may be traced."""
    lam_eps, lam_T = process.log_snr(jnp.array([eps, process.T]))
    inv_min, inv_max = jnp.exp(-lam_eps / (2 * rho)), jnp.exp(-lam_T / (2 * rho))
    fraction = jnp.asarray(index, jnp.float32) / (jnp.asarray(num_points, jnp.float32) - 1.0)
    times = process.inverse_log_snr(-2 * rho * jnp.log(inv_min + fraction * (inv_max - inv_min)))
    return jnp.where(index == 0, eps, jnp.where(index == num_points - 1, process.T, times))


def num_points_schedule(step, total_steps: int, s0: int = 2, s1: int = 150) -> Array:
    """The paper's N(k) = max(ceil(sqrt(k / K ((s1 + 1)^2 - s0^2) + s0^2) - 1), 1) + 1 (int32), as the
    official codes compute it: s0 at k = 0 growing to s1 + 1 at k = K."""
    k = jnp.asarray(step, jnp.float32)
    value = jnp.sqrt(k / total_steps * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1.0
    return (jnp.maximum(jnp.ceil(value), 1.0) + 1).astype(jnp.int32)


def target_ema_decay(step, total_steps: int, s0: int = 2, s1: int = 150, mu0: float = 0.95) -> Array:
    """The target decay mu(k) = exp(s0 log mu0 / (N(k) - 1)) of the official codes (openai/consistency_models
    and consistency_models_cifar10 divide by the intervals of the grid, N(k) - 1; so mu(0) = mu0^2 at s0 = 2);
    mu0 = 0 gives 0 throughout."""
    if mu0 == 0.0:
        return jnp.zeros((), jnp.float32)
    intervals = num_points_schedule(step, total_steps, s0, s1).astype(jnp.float32) - 1.0
    return jnp.exp(s0 * np.log(mu0) / intervals)


def heun_teacher_step(process: SDE, teacher_denoise: DenoiserFn, x: Array, t_from: Array, t_to: Array) -> Array:
    """One Heun step of the teacher's probability-flow ODE from per-example times t_from to t_to (B,),
    in the scaled space: dx~/dsigma~ = (x~ - D(x, t)) / sigma~; two teacher evaluations."""
    a_from, s_from = process.marginal_coefficients(t_from)
    a_to, s_to = process.marginal_coefficients(t_to)
    a_from, a_to = batch_broadcast(a_from, x), batch_broadcast(a_to, x)
    sigma_from, sigma_to = batch_broadcast(s_from, x) / a_from, batch_broadcast(s_to, x) / a_to
    y = x / a_from
    slope = (y - teacher_denoise(x, t_from)) / sigma_from
    y_euler = y + (sigma_to - sigma_from) * slope
    slope_next = (y_euler - teacher_denoise(a_to * y_euler, t_to)) / sigma_to
    return a_to * (y + (sigma_to - sigma_from) * 0.5 * (slope + slope_next))


def consistency_distillation_loss(
    rng: Array,
    process: SDE,
    student_fn: DenoiserFn,
    target_fn: DenoiserFn,
    teacher_denoise: DenoiserFn,
    x0: Array,
    num_points,
    eps: float,
    rho: float = 7.0,
    metric: str = "l2",
) -> Array:
    """The mean over the batch of d(f_theta(x_{t_{n+1}}, t_{n+1}), f_theta-(x^_{t_n}, t_n)) for n drawn
    uniformly from 1..N-1 per example, x^ the teacher's Heun step; d the mean squared ("l2") or
    absolute ("l1") difference over dimensions. Only the student is differentiated."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric={metric!r}: choose from {METRICS}")
    if isinstance(num_points, int) and num_points < 2:
        raise ValueError(f"num_points must be at least 2 (an interval of the grid); got {num_points}")
    index_rng, noise_rng = jax.random.split(rng)
    batch = x0.shape[0]
    index = jax.random.randint(index_rng, (batch,), 0, jnp.asarray(num_points) - 1)
    t = consistency_time(process, index, num_points, eps, rho)
    t_next = consistency_time(process, index + 1, num_points, eps, rho)
    a, s = process.marginal_coefficients(t_next)
    x_next = batch_broadcast(a, x0) * x0 + batch_broadcast(s, x0) * jax.random.normal(noise_rng, x0.shape, x0.dtype)
    x_teacher = jax.lax.stop_gradient(heun_teacher_step(process, teacher_denoise, x_next, t_next, t))
    target = jax.lax.stop_gradient(target_fn(x_teacher, t))
    difference = jnp.reshape(student_fn(x_next, t_next) - target, (batch, -1))
    distance = jnp.mean(difference**2, axis=-1) if metric == "l2" else jnp.mean(jnp.abs(difference), axis=-1)
    return jnp.mean(distance)


def sample_consistency(
    rng: Array, process: SDE, consistency_fn: DenoiserFn, shape: tuple[int, ...], times, eps: float
) -> tuple[Array, NFE]:
    """Multistep consistency sampling: y = f(x_T, T) with x_T ~ the prior, then for each further time
    tau (descending) the forward process from eps to tau, x_tau = a_tau y + sqrt(s_tau^2 -
    (a_tau s_eps / a_eps)^2) z (y = x_eps / a_eps), and y = f(x_tau, tau). `times` starts at T; one
    time is one-step sampling. Returns (a(eps) y, nfe = len(times)): samples at eps, like the other
    samplers'."""
    times = jnp.asarray(times, jnp.float32)
    prior_rng, noise_rng = jax.random.split(rng)
    a_eps, s_eps = process.marginal_coefficients(jnp.asarray([eps], jnp.float32))
    batch_time = lambda t: jnp.full((shape[0],), t)
    y = consistency_fn(process.prior_sampling(prior_rng, shape), batch_time(times[0]))

    def step(y, inputs):
        i, tau = inputs
        a_tau, s_tau = process.marginal_coefficients(jnp.reshape(tau, (1,)))
        noise_std = jnp.sqrt(jnp.maximum(s_tau**2 - (a_tau * s_eps / a_eps) ** 2, 0.0))
        x_tau = a_tau * y + noise_std * jax.random.normal(jax.random.fold_in(noise_rng, i), y.shape, y.dtype)
        return consistency_fn(x_tau, batch_time(tau)), None

    y, _ = jax.lax.scan(step, y, (jnp.arange(len(times) - 1), times[1:]))
    return a_eps * y, jnp.asarray(len(times), jnp.int32)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "distill.student_output": Setting(
        "raw",
        (
            'consistency: the student\'s output f = c_skip x~ + c_out F ("raw", '
            "the paper's) or c_skip x~ + (1 - c_skip) D with D the denoiser of F "
            "under the parameterisation named here (v, x0, eps, ...; auto: the "
            "process's own)"
        ),
        choice_of(PARAMETERIZATIONS, "raw", "auto"),
    ),
}
