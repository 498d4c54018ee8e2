"""The three SDEs of score-based generative modeling (Song et al., ICLR 2021), with the
reference code's discretisations, defaults and N-step chains.

Time-discretisation indices follow the reference code: `int(t * (N - 1) / T)`.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.sde.base import SDE, SDES, batch_broadcast, check_steps, check_time, gaussian_logp
from score_sde.settings import NON_NEGATIVE, POSITIVE, Setting


@dataclasses.dataclass(frozen=True)
class _LinearBetaSDE(SDE):
    """Shared parts of VP and sub-VP: beta(t) = beta_min + t (beta_max - beta_min)."""

    beta_min: float = 0.1
    beta_max: float = 20.0
    N: int = 1000
    default_parameterization = "reference_noise"

    def __post_init__(self):
        check_steps(self.N)
        if not 0.0 <= self.beta_min < self.beta_max:
            raise ValueError(
                f"{type(self).__name__} needs 0 <= beta_min < beta_max; got beta_min={self.beta_min}, "
                f"beta_max={self.beta_max}"
            )

    @classmethod
    def from_config(cls, model) -> "_LinearBetaSDE":
        """Reads config.model.beta_min, beta_max and num_scales (N)."""
        return cls(float(model.beta_min), float(model.beta_max), int(model.num_scales))

    def beta(self, t: Array) -> Array:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: Array) -> Array:
        """log a(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2."""
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def time_from_log_mean_coeff(self, log_a: Array) -> Array:
        """Inverts log_mean_coeff: the positive root of (db/4) t^2 + (b0/2) t + log a = 0."""
        db, b0 = self.beta_max - self.beta_min, self.beta_min
        return 2.0 * (-log_a) / (0.5 * b0 + jnp.sqrt(0.25 * b0**2 - db * log_a))

    def drift_coefficient(self, t: Array) -> Array:
        return -0.5 * self.beta(t)

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

    @property
    def prior_std(self) -> float:
        return 1.0


@SDES.register("vpsde")
@dataclasses.dataclass(frozen=True)
class VPSDE(_LinearBetaSDE):
    """Variance-preserving SDE: dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw.

    x_t | x_0 ~ N(a(t) x_0, (1 - a(t)^2) I) with log a(t) = -t^2 (beta_max - beta_min)/4 - t beta_min/2.
    """

    discrete_chain_labels = True

    def sde(self, x, t):
        check_time(t, self.T)
        beta_t = self.beta(t)
        return -0.5 * batch_broadcast(beta_t, x) * x, jnp.sqrt(beta_t)

    def marginal_coefficients(self, t):
        log_a = self.log_mean_coeff(t)
        return jnp.exp(log_a), jnp.sqrt(-jnp.expm1(2.0 * log_a))

    def diffusion_squared(self, t):
        return self.beta(t)

    def log_snr(self, t):
        log_a = self.log_mean_coeff(t)
        return 2.0 * log_a - jnp.log(-jnp.expm1(2.0 * log_a))

    def inverse_log_snr(self, lam):
        """a^2 = sigmoid(lambda), then t from log a."""
        return self.time_from_log_mean_coeff(-0.5 * jax.nn.softplus(-lam))


@SDES.register("subvpsde")
@dataclasses.dataclass(frozen=True)
class SubVPSDE(_LinearBetaSDE):
    """Sub-VP SDE: dx = -beta(t) x / 2 dt + sqrt(beta(t) (1 - exp(-2 int_0^t beta))) dw.

    x_t | x_0 ~ N(a(t) x_0, (1 - a(t)^2)^2 I), with the same a(t) as the VP SDE. Its discrete
    alphas are those of the VP SDE, so that every corrector works with it; its chain is the
    Euler-Maruyama discretisation, and its networks always see continuous labels, as in the
    reference.
    """

    def _discount(self, t):
        return -jnp.expm1(-2.0 * self.beta_min * t - (self.beta_max - self.beta_min) * t**2)

    def sde(self, x, t):
        check_time(t, self.T)
        beta_t = self.beta(t)
        return -0.5 * batch_broadcast(beta_t, x) * x, jnp.sqrt(beta_t * self._discount(t))

    def marginal_coefficients(self, t):
        log_a = self.log_mean_coeff(t)
        return jnp.exp(log_a), -jnp.expm1(2.0 * log_a)

    def diffusion_squared(self, t):
        return self.beta(t) * self._discount(t)

    def log_snr(self, t):
        log_a = self.log_mean_coeff(t)
        return 2.0 * log_a - 2.0 * jnp.log(-jnp.expm1(2.0 * log_a))

    def inverse_log_snr(self, lam):
        """Solves e^(lambda/2) (1 - a^2) = a for a in (0, 1), then t from log a."""
        e = jnp.exp(0.5 * lam)
        a = 2.0 * e / (1.0 + jnp.sqrt(1.0 + 4.0 * e**2))
        return self.time_from_log_mean_coeff(jnp.log(a))


@SDES.register("vesde")
@dataclasses.dataclass(frozen=True)
class VESDE(SDE):
    """Variance-exploding SDE: dx = sigma(t) sqrt(2 log(sigma_max / sigma_min)) dw.

    sigma(t) = sigma_min (sigma_max / sigma_min)^t and x_t | x_0 ~ N(x_0, sigma(t)^2 I).
    Sampling stops at eps = 1e-5, as the reference's run_lib does for this SDE.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    N: int = 1000
    eps = 1e-5
    default_parameterization = "reference_score"
    discrete_chain_labels = True

    def __post_init__(self):
        check_steps(self.N)
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"VESDE needs 0 < sigma_min < sigma_max; got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    @classmethod
    def from_config(cls, model) -> "VESDE":
        """Reads config.model.sigma_min, sigma_max and num_scales (N)."""
        return cls(float(model.sigma_min), float(model.sigma_max), int(model.num_scales))

    def sigma(self, t: Array) -> Array:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    @property
    def discrete_sigmas(self) -> Array:
        """sigma_i = exp(linspace(log sigma_min, log sigma_max, N)), increasing in i."""
        sigmas = np.exp(np.linspace(np.log(self.sigma_min), np.log(self.sigma_max), self.N, dtype=np.float64))
        return jnp.asarray(sigmas, jnp.float32)

    def _log_ratio(self) -> float:
        return float(np.log(self.sigma_max) - np.log(self.sigma_min))

    def sde(self, x, t):
        check_time(t, self.T)
        diffusion = self.sigma(t) * np.sqrt(2.0 * self._log_ratio())
        return jnp.zeros_like(x), diffusion

    def marginal_coefficients(self, t):
        return jnp.ones_like(t), self.sigma(t)

    def marginal_prob(self, x, t):
        check_time(t, self.T)
        return x, self.sigma(t)

    def drift_coefficient(self, t):
        return jnp.zeros_like(t)

    def diffusion_squared(self, t):
        return self.sigma(t) ** 2 * (2.0 * self._log_ratio())

    def log_snr(self, t):
        return -2.0 * jnp.log(self.sigma(t))

    def inverse_log_snr(self, lam):
        """sigma = exp(-lambda / 2), t = log(sigma / sigma_min) / log(sigma_max / sigma_min)."""
        return (-0.5 * lam - np.log(self.sigma_min)) / self._log_ratio()

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def prior_logp(self, z):
        return gaussian_logp(z, self.sigma_max**2)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.beta_min": Setting(0.1, "vpsde, subvpsde: beta(0)", NON_NEGATIVE, below="model.beta_max"),
    "model.beta_max": Setting(20.0, "vpsde, subvpsde: beta(1)", POSITIVE),
    "model.sigma_min": Setting(0.01, "vesde: sigma(0)", POSITIVE, below="model.sigma_max"),
    "model.sigma_max": Setting(50.0, "vesde: sigma(1)", POSITIVE),
}
