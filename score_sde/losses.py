"""Denoising losses: one weighted denoising loss over (process, parameterisation, time sampling,
weighting), and the reference's discrete DDPM and SMLD losses.

Every continuous objective here is E_t E_{x0, z} w(t) |D(x_t, t) - x_0|^2 for some weight w on
the denoiser's error (Kingma & Gao 2023), computed in the network's output space, where
D - x_0 = c_out (F - target): per example, w(t) c_out(t)^2 |F - target|^2 (exactly
|F - target|^2 when the weighting is the parameterisation's own, e.g. eps-MSE for noise
prediction). The weightings (`WEIGHTINGS`), as weights on |D - x_0|^2 with SNR = a^2 / s^2:

  eps        SNR                          eps-MSE; the reference DSM (lambda = s^2 on the score)
  score      a^2 / s^4                    score-MSE with lambda = 1
  likelihood g^2 a^2 / s^4                the reference's likelihood weighting (lambda = g^2)
  x0         1                            x_0-MSE
  v          1 + SNR                      v-MSE (on VP paths)
  velocity   (a s' - s a')^2 / s^2         flow-matching velocity MSE
  edm        (sigma~^2 + sd^2) / (sigma~ sd)^2   EDM's lambda(sigma), sigma~ = s / a
  min_snr    min(SNR, gamma)              min-SNR-gamma (Hang et al. 2023), on top of x_0-MSE

Time sampling (`TIME_SAMPLINGS`): "uniform" t ~ U(eps, T); "log_normal" (EDM) ln sigma~ ~
N(P_mean, P_std^2), which defines the objective (no reweighting), t clipped to [eps, T];
"log_snr" lambda ~ U[lambda(T), lambda(eps)] with the importance weight that keeps the
time-uniform objective unbiased.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from score_sde._types import Array, NetApplyFn, NetFn, ScoreFn
from score_sde.parameterization import Parameterization, ReferenceNoise, ReferenceScore
from score_sde.registry import Registry
from score_sde.sde import SDE, VESDE, VPSDE, batch_broadcast
from score_sde.sde.base import time_derivative

WEIGHTINGS: Registry[Callable] = Registry("loss weighting")
TIME_SAMPLINGS = ("uniform", "log_normal", "log_snr")


def _snr(process: SDE, t: Array) -> Array:
    a, s = process.marginal_coefficients(t)
    return (a / s) ** 2


WEIGHTINGS.register("eps")(lambda process, t, settings: _snr(process, t))
WEIGHTINGS.register("x0")(lambda process, t, settings: jnp.ones_like(t))
WEIGHTINGS.register("v")(lambda process, t, settings: 1.0 + _snr(process, t))
WEIGHTINGS.register("min_snr")(lambda process, t, settings: jnp.minimum(_snr(process, t), settings.min_snr_gamma))


@WEIGHTINGS.register("score")
def _score_weight(process, t, settings):
    a, s = process.marginal_coefficients(t)
    return a**2 / s**4


@WEIGHTINGS.register("likelihood")
def _likelihood_weight(process, t, settings):
    return process.diffusion_squared(t) * _score_weight(process, t, settings)


@WEIGHTINGS.register("velocity")
def _velocity_weight(process, t, settings):
    a, s = process.marginal_coefficients(t)
    f, g2 = process.drift_coefficient(t), process.diffusion_squared(t)
    da, ds = f * a, (g2 + 2.0 * f * s**2) / (2.0 * s)
    return (a * ds - s * da) ** 2 / s**2


@WEIGHTINGS.register("edm")
def _edm_weight(process, t, settings):
    a, s = process.marginal_coefficients(t)
    sigma, sd = s / a, settings.sigma_data
    return (sigma**2 + sd**2) / (sigma * sd) ** 2


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """How the denoising loss samples times and weights them (see the module docstring)."""

    weighting: str = "eps"
    time_sampling: str = "uniform"
    reduce_mean: bool = True
    eps: float = 1e-5
    P_mean: float = -1.2
    P_std: float = 1.2
    min_snr_gamma: float = 5.0
    sigma_data: float = 0.5

    def __post_init__(self):
        WEIGHTINGS.get(self.weighting, "weighting")
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"unknown time_sampling={self.time_sampling!r}: choose from {TIME_SAMPLINGS}")
        if not self.P_std > 0 or not self.min_snr_gamma > 0:
            raise ValueError(f"P_std and min_snr_gamma must be positive; got {self.P_std}, {self.min_snr_gamma}")


def _reduce(values: Array, reduce_mean: bool) -> Array:
    """Per-example reduction over all but the batch axis: mean, or half the sum (reference)."""
    flat = jnp.reshape(values, (values.shape[0], -1))
    return jnp.mean(flat, axis=-1) if reduce_mean else 0.5 * jnp.sum(flat, axis=-1)


def sample_times(rng: Array, process: SDE, batch_size: int, settings: LossSettings) -> tuple[Array, Array]:
    """Training times (B,) and their importance weights (B,) (ones except for "log_snr")."""
    T, eps = process.T, settings.eps
    if settings.time_sampling == "uniform":
        return jax.random.uniform(rng, (batch_size,), minval=eps, maxval=T), jnp.ones((batch_size,))
    if settings.time_sampling == "log_normal":
        log_sigma = settings.P_mean + settings.P_std * jax.random.normal(rng, (batch_size,))
        return jnp.clip(process.inverse_log_snr(-2.0 * log_sigma), eps, T), jnp.ones((batch_size,))
    lam_min, lam_max = process.log_snr(jnp.array([T, eps]))
    t = process.inverse_log_snr(jax.random.uniform(rng, (batch_size,), minval=lam_min, maxval=lam_max))
    dlam_dt = time_derivative(process.log_snr, t)
    return t, (lam_max - lam_min) / ((T - eps) * jnp.abs(dlam_dt))


def denoising_loss(
    rng: Array,
    process: SDE,
    parameterization: Parameterization,
    net_fn: NetFn,
    batch: Array,
    settings: LossSettings = LossSettings(),
    noise: Array | None = None,
) -> Array:
    """E_t w(t) |D(x_t, t) - x_0|^2 (see the module docstring), averaged over the batch.

    Args:
      net_fn: net_fn(x_in, c_noise) -> raw network output, shaped like x (parameters bound).
      batch: x_0 (B, *event) in the model's range.
      noise: z (B, *event) coupled to each x_0 (reflow's pairs); fresh N(0, I) draws by default.
    """
    t_rng, z_rng = jax.random.split(rng)
    t, importance = sample_times(t_rng, process, batch.shape[0], settings)
    z = jax.random.normal(z_rng, batch.shape) if noise is None else noise
    a, s = process.marginal_coefficients(t)
    x = batch_broadcast(a, batch) * batch + batch_broadcast(s, batch) * z
    output = net_fn(*parameterization.network_inputs(process, x, t))
    errors = _reduce(jnp.square(output - parameterization.target(process, batch, z, t)), settings.reduce_mean)
    if settings.weighting == parameterization.native_weighting:
        weight = importance
    else:
        c_out = parameterization.output_coefficients(process, t, batch)[1]
        c_out = jnp.reshape(jnp.broadcast_to(c_out, batch_broadcast(t, batch).shape), (-1,))
        weight = importance * WEIGHTINGS.get(settings.weighting)(process, t, settings) * c_out**2
    return jnp.mean(weight * errors)


@dataclasses.dataclass(frozen=True)
class _ScoreOutput(Parameterization):
    """A "network" whose output is the score itself, fed (x, t): the view of `dsm_loss`."""

    native_weighting = "score"
    default_weighting = "eps"

    def network_inputs(self, process, x, t):
        return x, t

    def output_coefficients(self, process, t, x):
        a, s = process.marginal_coefficients(t)
        return batch_broadcast(1.0 / a, x), batch_broadcast(s**2 / a, x)

    def target(self, process, x0, z, t):
        return -z / batch_broadcast(process.marginal_coefficients(t)[1], z)


def dsm_loss(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    batch: Array,
    *,
    reduce_mean: bool = True,
    likelihood_weighting: bool = False,
    eps: float = 1e-5,
) -> Array:
    """Continuous denoising score matching of a score function, averaged over the batch.

    t ~ U(eps, T), x_t = a x_0 + s z. Without likelihood weighting the loss is
    |s * score(x_t, t) + z|^2 (lambda(t) = s^2); with it, g(t)^2 |score + z / s|^2. This is
    `denoising_loss` with the score as the network's output and the "eps" or "likelihood" weighting.
    """
    settings = LossSettings(weighting="likelihood" if likelihood_weighting else "eps", reduce_mean=reduce_mean, eps=eps)
    return denoising_loss(rng, process, _ScoreOutput(), score_fn, batch, settings)


def ddpm_loss(rng: Array, process: VPSDE, net_fn: NetFn, batch: Array, *, reduce_mean: bool = True) -> Array:
    """Discrete DDPM loss |eps_theta(x_i, i) - z|^2 with x_i = sqrt(abar_i) x_0 + sqrt(1 - abar_i) z."""
    label_rng, z_rng = jax.random.split(rng)
    labels = jax.random.randint(label_rng, (batch.shape[0],), 0, process.N)
    z = jax.random.normal(z_rng, batch.shape)
    perturbed = (
        batch_broadcast(process.sqrt_alphas_cumprod[labels], batch) * batch
        + batch_broadcast(process.sqrt_1m_alphas_cumprod[labels], batch) * z
    )
    return jnp.mean(_reduce(jnp.square(net_fn(perturbed, labels) - z), reduce_mean))


def smld_loss(rng: Array, process: VESDE, net_fn: NetFn, batch: Array, *, reduce_mean: bool = False) -> Array:
    """Discrete SMLD (NCSN) loss sigma_i^2 |s_theta(x + sigma_i z, i) + z / sigma_i|^2.

    Label i indexes the sigmas from largest (0) to smallest (N - 1), as in the reference.
    """
    label_rng, z_rng = jax.random.split(rng)
    labels = jax.random.randint(label_rng, (batch.shape[0],), 0, process.N)
    sigmas = batch_broadcast(jnp.flip(process.discrete_sigmas)[labels], batch)
    noise = jax.random.normal(z_rng, batch.shape) * sigmas
    target = -noise / sigmas**2
    losses = _reduce(jnp.square(net_fn(batch + noise, labels) - target), reduce_mean)
    return jnp.mean(losses * jnp.reshape(sigmas, (-1,)) ** 2)


def get_loss_fn(
    process: SDE,
    parameterization: Parameterization,
    net_apply: NetApplyFn,
    settings: LossSettings = LossSettings(),
    *,
    train: bool = True,
) -> Callable[..., Array]:
    """Returns loss_fn(params, rng, batch, labels=None, noise=None) -> scalar (`labels` (B,) for a
    class-conditional network, `noise` the coupled z of each example, see `denoising_loss`).

    A reference parameterisation built for discrete time (`continuous=False`) trains with the
    reference's discrete loss of its process: `ddpm_loss` (VP) or `smld_loss` (VE); everything
    else with `denoising_loss`.
    """
    discrete = isinstance(parameterization, (ReferenceNoise, ReferenceScore)) and not parameterization.continuous
    discrete_loss = {"reference_noise": ddpm_loss, "reference_score": smld_loss}.get(parameterization.name)

    def loss_fn(params, rng, batch, labels=None, noise=None):
        loss_rng, dropout_rng = jax.random.split(rng)
        net_fn = lambda x, cond: net_apply(params, x, cond, dropout_rng if train else None, labels)
        if discrete:
            return discrete_loss(loss_rng, process, net_fn, batch, reduce_mean=settings.reduce_mean)
        return denoising_loss(loss_rng, process, parameterization, net_fn, batch, settings, noise)

    return loss_fn
