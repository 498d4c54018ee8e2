"""Forward SDEs of score-based generative modeling (Song et al., ICLR 2021).

Every SDE acts on a batch `x` of shape (B, *event) with times `t` of shape (B,), is a
frozen (hashable) dataclass usable as a static argument of `jax.jit`, and has

  sde(x, t) -> (drift, diffusion)          dx = f(x, t) dt + g(t) dw
  marginal_prob(x0, t) -> (mean, std)      p_t(x | x0) = N(mean, std^2 I)
  prior_sampling(rng, shape), prior_logp(z) -> (B,)
  discretize(x, t) -> (f, G)               x_{i+1} = x_i + f + G z   (N steps on [0, T])
  reverse(score_fn, probability_flow=False)

Time-discretisation indices follow the reference code: `int(t * (N - 1) / T)`.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.noise import per_example_normal
from score_sde.registry import Registry

Array = jax.Array
ScoreFn = Callable[[Array, Array], Array]

SDES: Registry[type] = Registry("SDE")


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


def _check_steps(N) -> None:
    if not isinstance(N, (int, np.integer)) or isinstance(N, bool) or N < 1:
        raise ValueError(f"N (number of discretisation steps) must be an integer >= 1; got {N!r}")


class SDE:
    """Interface and shared behaviour of the forward SDEs."""

    T: float = 1.0
    N: int

    def sde(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Drift f(x, t) of shape x.shape and diffusion g(t) of shape (B,)."""
        raise NotImplementedError

    def marginal_prob(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Mean (like x) and std (B,) of p_t(x_t | x_0 = x)."""
        raise NotImplementedError

    def marginal_coefficients(self, t: Array) -> tuple[Array, Array]:
        """Scale a(t) and std s(t), both (B,), with x_t = a(t) x_0 + s(t) z."""
        mean, std = self.marginal_prob(jnp.ones_like(t), t)
        return mean, std

    def prior_sampling(self, rng: Array, shape) -> Array:
        """Draws x_T ~ p_T of shape (B, *event)."""
        raise NotImplementedError

    def prior_logp(self, z: Array) -> Array:
        """log p_T(z), shape (B,)."""
        raise NotImplementedError

    def discretize(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Euler-Maruyama discretisation with step T / N: f = f(x, t) T/N, G = g(t) sqrt(T/N)."""
        dt = self.T / self.N
        drift, diffusion = self.sde(x, t)
        return drift * dt, diffusion * jnp.sqrt(dt)

    def step_index(self, t: Array) -> Array:
        """Index i of the discretisation step containing t: int(t (N - 1) / T), as in the reference."""
        return (t * (self.N - 1) / self.T).astype(jnp.int32)

    def log_snr(self, t: Array) -> Array:
        """lambda(t) = log(a(t) / s(t)), decreasing in t."""
        a, s = self.marginal_coefficients(t)
        return jnp.log(a) - jnp.log(s)

    def inverse_log_snr(self, lam: Array) -> Array:
        """The time t with log_snr(t) = lam, in closed form."""
        raise NotImplementedError

    @property
    def alphas(self) -> Array:
        """Per-step factors alpha_i (N,) that scale the Langevin corrector's step size."""
        raise NotImplementedError

    def check_discretization(self, setting: str = "N") -> None:
        """Raises a ValueError if the N-step discretisation is not a valid Markov chain."""

    def reverse(self, score_fn: ScoreFn, probability_flow: bool = False) -> "ReverseSDE":
        """The reverse-time SDE, or the probability-flow ODE when `probability_flow`."""
        return ReverseSDE(self, score_fn, probability_flow)


def _gaussian_logp(z: Array, variance: float) -> Array:
    dim = np.prod(z.shape[1:])
    sq = jnp.sum(jnp.reshape(z, (z.shape[0], -1)) ** 2, axis=-1)
    return -0.5 * dim * jnp.log(2 * np.pi * variance) - 0.5 * sq / variance


@dataclasses.dataclass(frozen=True)
class _LinearBetaSDE(SDE):
    """Shared parts of VP and sub-VP: beta(t) = beta_min + t (beta_max - beta_min)."""

    beta_min: float = 0.1
    beta_max: float = 20.0
    N: int = 1000

    def __post_init__(self):
        _check_steps(self.N)
        if not 0.0 <= self.beta_min < self.beta_max:
            raise ValueError(
                f"{type(self).__name__} needs 0 <= beta_min < beta_max; got beta_min={self.beta_min}, "
                f"beta_max={self.beta_max}"
            )

    def check_discretization(self, setting: str = "N") -> None:
        """The DDPM chain needs every beta_i = beta(t_i) / N < 1, i.e. N > beta_max."""
        if self.beta_max / self.N >= 1.0:
            raise ValueError(
                f"{setting}={self.N} is too few steps for the {type(self).__name__} discretisation: "
                f"beta_max / N = {self.beta_max / self.N:.3g} must be < 1; use {setting} > {self.beta_max:g}"
            )

    def beta(self, t: Array) -> Array:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: Array) -> Array:
        """log a(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2."""
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def time_from_log_mean_coeff(self, log_a: Array) -> Array:
        """Inverts log_mean_coeff: the positive root of (db/4) t^2 + (b0/2) t + log a = 0."""
        db, b0 = self.beta_max - self.beta_min, self.beta_min
        return 2.0 * (-log_a) / (0.5 * b0 + jnp.sqrt(0.25 * b0**2 - db * log_a))

    def _schedule(self) -> dict[str, np.ndarray]:
        """The DDPM constants, computed in float64 as the reference does."""
        betas = np.linspace(self.beta_min / self.N, self.beta_max / self.N, self.N, dtype=np.float64)
        alphas_cumprod = np.cumprod(1.0 - betas)
        return dict(betas=betas, alphas_cumprod=alphas_cumprod)

    @property
    def discrete_betas(self) -> Array:
        """beta_i = linspace(beta_min / N, beta_max / N, N), the DDPM noise schedule."""
        return jnp.asarray(self._schedule()["betas"], jnp.float32)

    @property
    def alphas(self) -> Array:
        return jnp.asarray(1.0 - self._schedule()["betas"], jnp.float32)

    @property
    def alphas_cumprod(self) -> Array:
        return jnp.asarray(self._schedule()["alphas_cumprod"], jnp.float32)

    @property
    def sqrt_alphas_cumprod(self) -> Array:
        return jnp.asarray(np.sqrt(self._schedule()["alphas_cumprod"]), jnp.float32)

    @property
    def sqrt_1m_alphas_cumprod(self) -> Array:
        return jnp.asarray(np.sqrt(1.0 - self._schedule()["alphas_cumprod"]), jnp.float32)

    def prior_sampling(self, rng: Array, shape) -> Array:
        """x_T ~ N(0, I); example i depends only on (rng, i)."""
        return per_example_normal(rng, shape)

    def prior_logp(self, z: Array) -> Array:
        return _gaussian_logp(z, 1.0)


@SDES.register("vpsde")
@dataclasses.dataclass(frozen=True)
class VPSDE(_LinearBetaSDE):
    """Variance-preserving SDE: dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw.

    x_t | x_0 ~ N(a(t) x_0, (1 - a(t)^2) I) with log a(t) = -t^2 (beta_max - beta_min)/4 - t beta_min/2.
    """

    def sde(self, x, t):
        check_time(t, self.T)
        beta_t = self.beta(t)
        return -0.5 * batch_broadcast(beta_t, x) * x, jnp.sqrt(beta_t)

    def marginal_prob(self, x, t):
        check_time(t, self.T)
        log_a = self.log_mean_coeff(t)
        return batch_broadcast(jnp.exp(log_a), x) * x, jnp.sqrt(-jnp.expm1(2.0 * log_a))

    def inverse_log_snr(self, lam):
        """a^2 = sigmoid(2 lambda), then t from log a."""
        return self.time_from_log_mean_coeff(-0.5 * jax.nn.softplus(-2.0 * lam))

    def discretize(self, x, t):
        """DDPM ancestral form: f = (sqrt(1 - beta_i) - 1) x, G = sqrt(beta_i)."""
        check_time(t, self.T)
        i = self.step_index(t)
        beta = self.discrete_betas[i]
        f = (batch_broadcast(jnp.sqrt(1.0 - beta), x) - 1.0) * x
        return f, jnp.sqrt(beta)


@SDES.register("subvpsde")
@dataclasses.dataclass(frozen=True)
class SubVPSDE(_LinearBetaSDE):
    """Sub-VP SDE: dx = -beta(t) x / 2 dt + sqrt(beta(t) (1 - exp(-2 int_0^t beta))) dw.

    x_t | x_0 ~ N(a(t) x_0, (1 - a(t)^2)^2 I), with the same a(t) as the VP SDE. Its discrete
    betas and alphas are those of the VP SDE, so that every corrector works with it.
    """

    def sde(self, x, t):
        check_time(t, self.T)
        beta_t = self.beta(t)
        discount = -jnp.expm1(-2.0 * self.beta_min * t - (self.beta_max - self.beta_min) * t**2)
        return -0.5 * batch_broadcast(beta_t, x) * x, jnp.sqrt(beta_t * discount)

    def marginal_prob(self, x, t):
        check_time(t, self.T)
        log_a = self.log_mean_coeff(t)
        return batch_broadcast(jnp.exp(log_a), x) * x, -jnp.expm1(2.0 * log_a)

    def inverse_log_snr(self, lam):
        """Solves e^lambda (1 - a^2) = a for a in (0, 1), then t from log a."""
        e = jnp.exp(lam)
        a = 2.0 * e / (1.0 + jnp.sqrt(1.0 + 4.0 * e**2))
        return self.time_from_log_mean_coeff(jnp.log(a))


@SDES.register("vesde")
@dataclasses.dataclass(frozen=True)
class VESDE(SDE):
    """Variance-exploding SDE: dx = sigma(t) sqrt(2 log(sigma_max / sigma_min)) dw.

    sigma(t) = sigma_min (sigma_max / sigma_min)^t and x_t | x_0 ~ N(x_0, sigma(t)^2 I).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    N: int = 1000

    def __post_init__(self):
        _check_steps(self.N)
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"VESDE needs 0 < sigma_min < sigma_max; got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}"
            )

    def sigma(self, t: Array) -> Array:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    @property
    def discrete_sigmas(self) -> Array:
        """sigma_i = exp(linspace(log sigma_min, log sigma_max, N)), increasing in i."""
        sigmas = np.exp(np.linspace(np.log(self.sigma_min), np.log(self.sigma_max), self.N, dtype=np.float64))
        return jnp.asarray(sigmas, jnp.float32)

    @property
    def alphas(self) -> Array:
        return jnp.ones((self.N,))

    def sde(self, x, t):
        check_time(t, self.T)
        diffusion = self.sigma(t) * np.sqrt(2.0 * (np.log(self.sigma_max) - np.log(self.sigma_min)))
        return jnp.zeros_like(x), diffusion

    def marginal_prob(self, x, t):
        check_time(t, self.T)
        return x, self.sigma(t)

    def inverse_log_snr(self, lam):
        """sigma = exp(-lambda), t = log(sigma / sigma_min) / log(sigma_max / sigma_min)."""
        return (-lam - np.log(self.sigma_min)) / (np.log(self.sigma_max) - np.log(self.sigma_min))

    def prior_sampling(self, rng, shape):
        """x_T ~ N(0, sigma_max^2 I); example i depends only on (rng, i)."""
        return per_example_normal(rng, shape) * self.sigma_max

    def prior_logp(self, z):
        return _gaussian_logp(z, self.sigma_max**2)

    def discrete_sigma_pair(self, t: Array) -> tuple[Array, Array]:
        """sigma_i and sigma_{i-1} (sigma_{-1} = 0) of the step containing t, both (B,)."""
        i = self.step_index(t)
        sigma = self.discrete_sigmas[i]
        return sigma, jnp.where(i == 0, 0.0, self.discrete_sigmas[jnp.maximum(i - 1, 0)])

    def discretize(self, x, t):
        """SMLD form: f = 0, G = sqrt(sigma_i^2 - sigma_{i-1}^2) with sigma_{-1} = 0."""
        check_time(t, self.T)
        sigma, previous = self.discrete_sigma_pair(t)
        return jnp.zeros_like(x), jnp.sqrt(sigma**2 - previous**2)


@dataclasses.dataclass(frozen=True)
class ReverseSDE:
    """Reverse-time SDE dx = [f - g^2 score] dt + g dw_bar, or with `probability_flow` the ODE
    dx = [f - g^2 score / 2] dt. Same interface as the forward SDE (`sde`, `discretize`); time
    runs from T to 0, so `discretize` returns the update for a step of -T/N.
    """

    forward: SDE
    score_fn: ScoreFn
    probability_flow: bool = False

    @property
    def T(self) -> float:
        return self.forward.T

    @property
    def N(self) -> int:
        return self.forward.N

    def _weight(self) -> float:
        return 0.5 if self.probability_flow else 1.0

    def sde(self, x: Array, t: Array) -> tuple[Array, Array]:
        drift, diffusion = self.forward.sde(x, t)
        score = self.score_fn(x, t)
        drift = drift - batch_broadcast(diffusion**2, x) * score * self._weight()
        return drift, jnp.zeros_like(diffusion) if self.probability_flow else diffusion

    def discretize(self, x: Array, t: Array) -> tuple[Array, Array]:
        """Reverse update x_{i-1} = x_i - rev_f + rev_G z."""
        f, G = self.forward.discretize(x, t)
        rev_f = f - batch_broadcast(G**2, x) * self.score_fn(x, t) * self._weight()
        return rev_f, jnp.zeros_like(G) if self.probability_flow else G


def get_sde(config) -> SDE:
    """Builds the SDE named by `config.training.sde` with the reference's config fields.

    VP and sub-VP read `model.beta_min`, `model.beta_max`; VE reads `model.sigma_min`,
    `model.sigma_max`; all read `model.num_scales` as N.
    """
    name = config.training.sde.lower()
    cls = SDES.get(name, "config.training.sde")
    if cls is VESDE:
        return VESDE(float(config.model.sigma_min), float(config.model.sigma_max), int(config.model.num_scales))
    return cls(float(config.model.beta_min), float(config.model.beta_max), int(config.model.num_scales))
