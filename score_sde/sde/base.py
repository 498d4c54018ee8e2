"""The forward-process interface: a Gaussian path x_t = a(t) x_0 + s(t) z and its SDE.

Every process acts on a batch `x` of shape (B, *event) with times `t` of shape (B,), is a
frozen (hashable) dataclass usable as a static argument of `jax.jit`, and has

  marginal_coefficients(t) -> (a, s)       x_t = a(t) x_0 + s(t) z,  z ~ N(0, I)
  log_snr(t) = log(a^2 / s^2), inverse_log_snr(lam)
  sde(x, t) -> (drift, diffusion)          dx = f(t) x dt + g(t) dw,  f = d log a / dt,
                                           g^2 = d s^2 / dt - 2 f s^2
  marginal_prob(x0, t) -> (mean, std)      p_t(x | x0) = N(a x0, s^2 I)
  prior_sampling(rng, shape), prior_logp(z) -> (B,)
  reverse(score_fn, probability_flow=False)

and the times T (where the prior is used), eps (the default smallest time of sampling) and N
(steps of the discretisation). Subclasses give `marginal_coefficients` and their prior;
everything else has a generic form (derivatives by `jax.grad`, the inverse log-SNR by bisection)
that closed forms override. The N-step chain that predictor-corrector sampling steps along is a
part of its own, `score_sde.sde.chain.chain_of(process)`.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array, ScoreFn
from score_sde.noise import per_example_normal
from score_sde.registry import Registry
from score_sde.settings import AT_LEAST_ONE, Setting, choice_of

SDES: Registry[Any] = Registry("SDE")  # process classes, each with a from_config(config.model)


def batch_broadcast(values: Array, x: Array) -> Array:
    """Reshapes per-example `values` (B,) so that they broadcast against `x` (B, *event)."""
    return jnp.reshape(values, values.shape + (1,) * (x.ndim - values.ndim))


def check_time(t, T: float, name: str = "t") -> None:
    """Raises a ValueError if a concrete `t` lies outside [0, T]; traced values are not checked."""
    if isinstance(t, jax.core.Tracer):
        return
    values = np.asarray(t)
    if values.size and (values.min() < 0.0 or values.max() > T):
        raise ValueError(f"{name} must lie in [0, T={T}]; got values in [{values.min()}, {values.max()}]")


def check_steps(N) -> None:
    if not isinstance(N, (int, np.integer)) or isinstance(N, bool) or N < 1:
        raise ValueError(f"N (number of discretisation steps) must be an integer >= 1; got {N!r}")


def gaussian_logp(z: Array, variance: float) -> Array:
    """log N(z; 0, variance I) summed over the event, shape (B,)."""
    dim = np.prod(z.shape[1:])
    sq = jnp.sum(jnp.reshape(z, (z.shape[0], -1)) ** 2, axis=-1)
    return -0.5 * dim * jnp.log(2 * np.pi * variance) - 0.5 * sq / variance


def time_derivative(fn, t: Array) -> Array:
    """d fn / dt elementwise, for a function `fn` of an array of times acting elementwise."""
    scalar = lambda tau: fn(jnp.reshape(tau, (1,)))[0]
    return jnp.vectorize(jax.grad(scalar))(jnp.asarray(t, jnp.float32))


class SDE:
    """Interface and generic behaviour of the forward processes (Gaussian paths)."""

    N: int

    @property
    def T(self) -> float:
        """The end time of the path (a field or property of each process; 1 by default)."""
        return 1.0

    @property
    def eps(self) -> float:
        """The smallest time samplers and the likelihood use by default (1e-3 by default)."""
        return 1e-3

    # the time grid the fixed-step samplers use by default (see `get_timesteps`)
    default_schedule: str = "time_uniform"
    # what config.model.parameterization = "auto" means for this process
    default_parameterization: str = "eps"
    # whether discrete-time networks of this process see the chain's step labels (the reference's
    # DDPM and SMLD networks) rather than continuous ones
    discrete_chain_labels: bool = False

    # --- the path ---------------------------------------------------------------------------
    def marginal_coefficients(self, t: Array) -> tuple[Array, Array]:
        """Scale a(t) and std s(t), both shaped like t, with x_t = a(t) x_0 + s(t) z."""
        raise NotImplementedError

    def marginal_prob(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Mean a(t) x (like x) and std s(t) (B,) of p_t(x_t | x_0 = x)."""
        check_time(t, self.T)
        a, s = self.marginal_coefficients(t)
        return batch_broadcast(a, x) * x, s

    def log_snr(self, t: Array) -> Array:
        """lambda(t) = log(a(t)^2 / s(t)^2), decreasing in t."""
        a, s = self.marginal_coefficients(t)
        return 2.0 * (jnp.log(a) - jnp.log(s))

    def inverse_log_snr(self, lam: Array) -> Array:
        """The time t in [0, T] with log_snr(t) = lam (bisection; subclasses give closed forms)."""
        lam = jnp.asarray(lam, jnp.float32)

        def halve(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            later = self.log_snr(mid) > lam  # lambda decreases, so the root lies above mid
            return jnp.where(later, mid, lo), jnp.where(later, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 64, halve, (jnp.zeros_like(lam), jnp.full_like(lam, self.T)))
        return 0.5 * (lo + hi)

    def drift_coefficient(self, t: Array) -> Array:
        """f(t) = d log a / dt, shaped like t."""
        return time_derivative(lambda u: jnp.log(self.marginal_coefficients(u)[0]), t)

    def diffusion_squared(self, t: Array) -> Array:
        """g(t)^2 = d s^2 / dt - 2 f(t) s(t)^2, shaped like t."""
        s = self.marginal_coefficients(t)[1]
        return (
            time_derivative(lambda u: self.marginal_coefficients(u)[1] ** 2, t) - 2.0 * self.drift_coefficient(t) * s**2
        )

    def sde(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Drift f(t) x of shape x.shape and diffusion g(t) of shape (B,)."""
        check_time(t, self.T)
        return batch_broadcast(self.drift_coefficient(t), x) * x, jnp.sqrt(self.diffusion_squared(t))

    # --- the prior ----------------------------------------------------------------------------
    @property
    def prior_std(self) -> float:
        """Standard deviation of the Gaussian prior p_T = N(0, prior_std^2 I); by default s(T)."""
        return float(self.marginal_coefficients(jnp.array([self.T]))[1][0])

    def prior_sampling(self, rng: Array, shape) -> Array:
        """Draws x_T ~ N(0, prior_std^2 I) of shape (B, *event); example i depends only on (rng, i)."""
        return per_example_normal(rng, shape) * self.prior_std

    def prior_logp(self, z: Array) -> Array:
        """log p_T(z), shape (B,)."""
        return gaussian_logp(z, self.prior_std**2)

    def reverse(self, score_fn: ScoreFn, probability_flow: bool = False) -> "ReverseSDE":
        """The reverse-time SDE, or the probability-flow ODE when `probability_flow`."""
        return ReverseSDE(self, score_fn, probability_flow)


def posterior_step(x: Array, x0: Array, a_t, s_t, a_s, s_s, eta: float, z: Array) -> tuple[Array, Array]:
    """One DDIM step from time t to s < t, coefficients (a, s) of x = a x_0 + s z broadcasting against x.

    x_s = a_s x0 + sqrt(s_s^2 - c^2) (x - a_t x0) / s_t + c z with c^2 = eta^2 (s_s^2 / s_t^2)
    Var(x_t | x_s); eta = 1 is the exact Gaussian posterior p(x_s | x_t, x_0 = x0) (ancestral).
    Returns (x_s, its mean without the noise).
    """
    c = eta * s_s / s_t * jnp.sqrt(jnp.maximum(s_t**2 - (a_t / a_s) ** 2 * s_s**2, 0.0))
    x_mean = a_s * x0 + jnp.sqrt(jnp.maximum(s_s**2 - c**2, 0.0)) * (x - a_t * x0) / s_t
    return x_mean + c * z, x_mean


@dataclasses.dataclass(frozen=True)
class ReverseSDE:
    """Reverse-time SDE dx = [f - g^2 score] dt + g dw_bar, or with `probability_flow` the ODE
    dx = [f - g^2 score / 2] dt, with the forward SDE's `sde(x, t)`; time runs from T to 0.
    """

    forward: SDE
    score_fn: ScoreFn
    probability_flow: bool = False

    @property
    def T(self) -> float:
        return self.forward.T

    def _weight(self) -> float:
        return 0.5 if self.probability_flow else 1.0

    def sde(self, x: Array, t: Array) -> tuple[Array, Array]:
        drift, diffusion = self.forward.sde(x, t)
        score = self.score_fn(x, t)
        drift = drift - batch_broadcast(diffusion**2, x) * score * self._weight()
        return drift, jnp.zeros_like(diffusion) if self.probability_flow else diffusion


def get_sde(config) -> SDE:
    """Builds the process named by `config.training.sde` from the fields of `config.model` it
    reads (each process's `from_config` says which)."""
    return SDES.get(str(config.training.sde).lower(), "config.training.sde").from_config(config.model)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.sde": Setting(
        "vpsde", "the process: vpsde, subvpsde, vesde, cosine_vp, linear_flow, edm, trigflow", choice_of(SDES)
    ),
    "model.num_scales": Setting(1000, "N, steps of the process's discretisation", AT_LEAST_ONE),
}
