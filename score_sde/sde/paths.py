"""Gaussian paths beyond the three SDEs of 2021: a general path given by a(t) and s(t) (or by
its log-SNR), and the cosine VP schedule, the linear flow of rectified flow / flow matching,
and EDM's sigma path, each with closed forms.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array
from score_sde.sde.base import SDE, SDES, check_steps
from score_sde.settings import POSITIVE, Setting


def _check_eps(process: SDE) -> None:
    if not 0.0 < process.eps < process.T:
        raise ValueError(f"{type(process).__name__} needs 0 < eps < T={process.T}; got eps={process.eps}")


@dataclasses.dataclass(frozen=True)
class GaussianPath(SDE):
    """The path x_t = a(t) x_0 + s(t) z on [0, T] given by two functions, or by its log-SNR.

    Either `scale` and `noise` (a(t) and s(t), elementwise jnp functions of an array of times)
    or `log_snr_fn` (lambda(t) = log(a^2 / s^2), decreasing) with `variance_preserving`:
    a^2 = sigmoid(lambda), s^2 = sigmoid(-lambda) (VP) or a = 1, s^2 = exp(-lambda) (VE).
    The SDE's f and g^2 come from `jax.grad`, the inverse log-SNR from bisection.

    Args:
      prior_std: std of the N(0, prior_std^2 I) prior; None takes s(T).
    """

    scale: Callable[[Array], Array] | None = None
    noise: Callable[[Array], Array] | None = None
    log_snr_fn: Callable[[Array], Array] | None = None
    variance_preserving: bool = True
    T: float = 1.0
    eps: float = 1e-3
    N: int = 1000
    prior_std_value: float | None = None

    def __post_init__(self):
        check_steps(self.N)
        by_coefficients = self.scale is not None and self.noise is not None
        if by_coefficients == (self.log_snr_fn is not None) or (self.scale is None) != (self.noise is None):
            raise ValueError("GaussianPath needs either both scale and noise (a(t), s(t)) or log_snr_fn, not both")
        _check_eps(self)

    def marginal_coefficients(self, t):
        t = jnp.asarray(t, jnp.float32)
        if self.scale is not None:
            return self.scale(t), self.noise(t)
        lam = self.log_snr_fn(t)
        if self.variance_preserving:
            return jnp.sqrt(jax.nn.sigmoid(lam)), jnp.sqrt(jax.nn.sigmoid(-lam))
        return jnp.ones_like(lam), jnp.exp(-0.5 * lam)

    def log_snr(self, t):
        return super().log_snr(t) if self.log_snr_fn is None else self.log_snr_fn(jnp.asarray(t, jnp.float32))

    @property
    def prior_std(self) -> float:
        return super().prior_std if self.prior_std_value is None else float(self.prior_std_value)


@SDES.register("cosine_vp")
@dataclasses.dataclass(frozen=True)
class CosineVPSDE(SDE):
    """The cosine schedule of Nichol & Dhariwal (2021) as a VP SDE.

    abar(t) = cos^2(theta(t)) / cos^2(theta(0)) with theta(t) = (t + s) / (1 + s) pi / 2,
    a = sqrt(abar), s = sqrt(1 - abar), beta(t) = -d log abar / dt = pi tan(theta) / (1 + s).
    abar reaches 0 at t = 1, where beta diverges; Nichol & Dhariwal clip their discrete betas at
    0.999 (the same bound per step of 1/1000 as beta_max = 999 here). T is the time where
    beta(T) = `beta_max`, about 0.998, where a(T) = 3.1e-3: DPM-Solver's `cosine_t_max` (the end of
    its schedule's domain), not DPM-Solver's own T = 0.9946 for this schedule, where a = 8.4e-3.
    Prior N(0, I).
    """

    s: float = 0.008
    beta_max: float = 999.0
    N: int = 1000

    def __post_init__(self):
        check_steps(self.N)
        if not (self.s > 0.0 and self.beta_max > 0.0):
            raise ValueError(f"CosineVPSDE needs s > 0 and beta_max > 0; got s={self.s}, beta_max={self.beta_max}")

    @classmethod
    def from_config(cls, model) -> "CosineVPSDE":
        """Reads config.model.cosine_s and num_scales (N)."""
        return cls(s=float(model.cosine_s), N=int(model.num_scales))

    @property
    def T(self) -> float:
        theta = np.arctan(self.beta_max * (1.0 + self.s) / np.pi)
        return float(theta * 2.0 * (1.0 + self.s) / np.pi - self.s)

    def _theta(self, t):
        return (t + self.s) / (1.0 + self.s) * (np.pi / 2)

    def _log_a(self, t):
        return jnp.log(jnp.cos(self._theta(t))) - np.log(np.cos(self._theta(0.0)))

    def marginal_coefficients(self, t):
        log_a = self._log_a(t)
        return jnp.exp(log_a), jnp.sqrt(-jnp.expm1(2.0 * log_a))

    def beta(self, t):
        return np.pi * jnp.tan(self._theta(t)) / (1.0 + self.s)

    def drift_coefficient(self, t):
        return -0.5 * self.beta(t)

    def diffusion_squared(self, t):
        return self.beta(t)

    def log_snr(self, t):
        log_a = self._log_a(t)
        return 2.0 * log_a - jnp.log(-jnp.expm1(2.0 * log_a))

    def inverse_log_snr(self, lam):
        """abar = sigmoid(lambda), cos(theta) = sqrt(abar) cos(theta(0)), t from theta."""
        cos_theta = jnp.exp(-0.5 * jax.nn.softplus(-lam)) * np.cos(self._theta(0.0))
        return jnp.arccos(cos_theta) * 2.0 * (1.0 + self.s) / np.pi - self.s

    @property
    def prior_std(self) -> float:
        return 1.0


@SDES.register("linear_flow")
@dataclasses.dataclass(frozen=True)
class LinearFlow(SDE):
    """The linear path of rectified flow and conditional flow matching: a = 1 - t, s = t.

    Its velocity dx/dt = z - x_0 is finite everywhere, but the score-form coefficients
    f = -1 / (1 - t) and g^2 = 2 t / (1 - t) diverge at t = 1, where the marginal is exactly the
    N(0, I) prior and the score says nothing about the data. As the score-based treatments of
    this path do (Albergo & Vanden-Eijnden 2023; SiT's sample_eps, Ma et al. 2024), solves start
    just short of it, at T = 1 - 1e-3 by default: there a(T) = 1e-3, a smaller prior mismatch
    than the VP SDE's a(1) = 6.6e-3, and g^2 = 2e3 keeps 1000-step SDE solvers stable.
    """

    T: float = 0.999
    N: int = 1000
    default_parameterization = "velocity"

    def __post_init__(self):
        check_steps(self.N)
        if not 0.0 < self.T < 1.0:
            raise ValueError(f"LinearFlow needs 0 < T < 1 (the path is singular at t = 1); got T={self.T}")

    @classmethod
    def from_config(cls, model) -> "LinearFlow":
        """Reads config.model.num_scales (N)."""
        return cls(N=int(model.num_scales))

    def marginal_coefficients(self, t):
        t = jnp.asarray(t, jnp.float32)
        return 1.0 - t, t

    def drift_coefficient(self, t):
        return -1.0 / (1.0 - t)

    def diffusion_squared(self, t):
        return 2.0 * t / (1.0 - t)

    def log_snr(self, t):
        return 2.0 * (jnp.log1p(-t) - jnp.log(t))

    def inverse_log_snr(self, lam):
        """(1 - t) / t = exp(lambda / 2)."""
        return jax.nn.sigmoid(-0.5 * lam)

    @property
    def prior_std(self) -> float:
        return 1.0


@SDES.register("edm")
@dataclasses.dataclass(frozen=True)
class EDMPath(SDE):
    """EDM's path (Karras et al. 2022): a = 1, s = t, so the time is the noise level sigma.

    dx = sqrt(2 t) dw, the probability flow dx/dsigma = (x - D(x; sigma)) / sigma, sigma from
    sigma_min = 0.002 (eps) to sigma_max = 80 (T), prior N(0, 80^2 I). Fixed-step samplers use
    EDM's grid (`karras`, rho = 7) by default.
    """

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    N: int = 1000
    default_schedule = "karras"
    default_parameterization = "edm"

    def __post_init__(self):
        check_steps(self.N)
        if not 0.0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"EDMPath needs 0 < sigma_min < sigma_max; got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    @classmethod
    def from_config(cls, model) -> "EDMPath":
        """Reads config.model.edm_sigma_min, edm_sigma_max and num_scales (N)."""
        return cls(float(model.edm_sigma_min), float(model.edm_sigma_max), int(model.num_scales))

    @property
    def T(self) -> float:
        return self.sigma_max

    @property
    def eps(self) -> float:
        return self.sigma_min

    def marginal_coefficients(self, t):
        t = jnp.asarray(t, jnp.float32)
        return jnp.ones_like(t), t

    def drift_coefficient(self, t):
        return jnp.zeros_like(t)

    def diffusion_squared(self, t):
        return 2.0 * t

    def log_snr(self, t):
        return -2.0 * jnp.log(t)

    def inverse_log_snr(self, lam):
        return jnp.exp(-0.5 * lam)

    @property
    def prior_std(self) -> float:
        return self.sigma_max


@SDES.register("trigflow")
@dataclasses.dataclass(frozen=True)
class TrigFlowPath(SDE):
    """TrigFlow (Lu & Song, ICLR 2025): a = cos t, s = sigma_d sin t, so the data and the N(0, sigma_d^2 I)
    prior are joined by a quarter circle and the noise level is sigma~ = sigma_d tan t.

    EDM's levels sigma_min = 0.002 and sigma_max = 80 are the times eps = arctan(sigma_min /
    sigma_d) and T = arctan(sigma_max / sigma_d) (1.5645 for sigma_d = 0.5), where a(T) = 6e-3;
    dx = -tan t x dt + sigma_d sqrt(2 tan t) dw. Fixed-step samplers use EDM's grid by default.
    """

    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    N: int = 1000
    default_schedule = "karras"
    default_parameterization = "trigflow"

    def __post_init__(self):
        check_steps(self.N)
        if not (self.sigma_data > 0 and 0.0 < self.sigma_min < self.sigma_max):
            raise ValueError(
                "TrigFlowPath needs sigma_data > 0 and 0 < sigma_min < sigma_max; got "
                f"sigma_data={self.sigma_data}, sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    @classmethod
    def from_config(cls, model) -> "TrigFlowPath":
        """Reads config.model.sigma_data, edm_sigma_min, edm_sigma_max and num_scales (N)."""
        return cls(
            float(model.sigma_data), float(model.edm_sigma_min), float(model.edm_sigma_max), int(model.num_scales)
        )

    @property
    def T(self) -> float:
        return float(np.arctan(self.sigma_max / self.sigma_data))

    @property
    def eps(self) -> float:
        return float(np.arctan(self.sigma_min / self.sigma_data))

    def marginal_coefficients(self, t):
        t = jnp.asarray(t, jnp.float32)
        return jnp.cos(t), self.sigma_data * jnp.sin(t)

    def drift_coefficient(self, t):
        return -jnp.tan(t)

    def diffusion_squared(self, t):
        return 2.0 * self.sigma_data**2 * jnp.tan(t)

    def log_snr(self, t):
        return -2.0 * jnp.log(self.sigma_data * jnp.tan(t))

    def inverse_log_snr(self, lam):
        return jnp.arctan(jnp.exp(-0.5 * lam) / self.sigma_data)

    @property
    def prior_std(self) -> float:
        return self.sigma_data


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.cosine_s": Setting(0.008, "cosine_vp: the offset s of Nichol & Dhariwal", POSITIVE),
    "model.edm_sigma_min": Setting(0.002, "edm: the smallest noise level", POSITIVE, below="model.edm_sigma_max"),
    "model.edm_sigma_max": Setting(80.0, "edm: the largest noise level (T)", POSITIVE),
}
