"""Network parameterisations: how a raw network output becomes the denoiser and the score.

A network is fed F = net(c_in x, c_noise), and every parameterisation here is affine in F:
D(x, t) = c_skip x + c_out F approximates E[x_0 | x_t = x]. Each says what the network is fed
(`network_inputs`), how its output maps to D and the score (`output_coefficients`, `denoise`,
`score`), and what it is trained to output (`target`). Samplers, losses and the likelihood
see only these, never the process's class.

| name | network output | c_noise |
| --- | --- | --- |
| `reference_noise` | the reference's VP / sub-VP noise prediction: score = -F / std | t 999, or the DDPM index |
| `reference_score` | the reference's VE score output: score = F | sigma(t), or the SMLD index |
| `eps` | eps = (x - a x_0) / s | noise_condition |
| `x0` | x_0 | noise_condition |
| `v` | v = (a eps - s x_0) / sqrt(a^2 + s^2) (Salimans & Ho) | noise_condition |
| `velocity` | a' x_0 + s' eps (flow matching) | noise_condition |
| `edm` | EDM's preconditioned F (Karras et al. 2022), sigma_data | 1/4 ln sigma~ |

`noise_condition` of the non-reference parameterisations: "log_sigma" feeds c_noise = 1/4 ln
sigma~ with sigma~ = s / a (EDM's; for networks with positional embeddings), "sigma" feeds
sigma~ itself (for networks with Fourier embeddings, which embed its log), "time" feeds
999 t / T (the reference's VP label). Their input is scaled to unit variance for unit-variance
data, c_in = 1 / sqrt(a^2 + s^2) (1 on VP paths).
"""

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from score_sde import conversions
from score_sde._types import Array
from score_sde.registry import Registry
from score_sde.sde import SDE, TrigFlowPath, batch_broadcast
from score_sde.settings import POSITIVE, Setting, choice, choice_of

PARAMETERIZATIONS: Registry[type] = Registry("parameterization")
NOISE_CONDITIONS = ("log_sigma", "sigma", "time")


def _coefficients(process: SDE, t: Array, x: Array):
    """(a, s) broadcasting against x."""
    a, s = process.marginal_coefficients(t)
    return batch_broadcast(a, x), batch_broadcast(s, x)


def _derivatives(process: SDE, t: Array, x: Array):
    """(a', s') broadcasting against x, from f = a'/a and g^2 = 2 s s' - 2 f s^2."""
    a, s = process.marginal_coefficients(t)
    f, g2 = process.drift_coefficient(t), process.diffusion_squared(t)
    return batch_broadcast(f * a, x), batch_broadcast((g2 + 2.0 * f * s**2) / (2.0 * s), x)


@dataclasses.dataclass(frozen=True)
class Parameterization:
    """Interface: D(x, t) = c_skip x + c_out F(c_in x, c_noise)."""

    name: ClassVar[str]
    # the loss weighting (score_sde.losses.WEIGHTINGS) that makes |F - target|^2 unweighted
    native_weighting: ClassVar[str]
    # the weighting it trains with unless told otherwise (training.loss_weighting = "auto")
    default_weighting: ClassVar[str]

    def network_inputs(self, process: SDE, x: Array, t: Array) -> tuple[Array, Array]:
        """(x_in (like x), c_noise (B,)): what the network is fed at (x, t)."""
        raise NotImplementedError

    def output_coefficients(self, process: SDE, t: Array, x: Array) -> tuple[Array, Array]:
        """(c_skip, c_out), broadcasting against x, with D = c_skip x + c_out F."""
        raise NotImplementedError

    def target(self, process: SDE, x0: Array, z: Array, t: Array) -> Array:
        """The output F whose denoiser is exactly x0 at x_t = a x0 + s z."""
        x = self._noisy(process, x0, z, t)
        c_skip, c_out = self.output_coefficients(process, t, x)
        return (x0 - c_skip * x) / c_out

    def path_coefficients(self, process: SDE, t: Array, x: Array) -> tuple[Array, Array]:
        """(a, s) broadcasting against x that relate this parameterisation's denoiser and score:
        the process's, except for the reference's discrete-time networks (their chain's)."""
        return _coefficients(process, t, x)

    def denoise(self, process: SDE, x: Array, t: Array, output: Array) -> Array:
        c_skip, c_out = self.output_coefficients(process, t, x)
        return c_skip * x + c_out * output

    def score(self, process: SDE, x: Array, t: Array, output: Array) -> Array:
        a, s = self.path_coefficients(process, t, x)
        return conversions.score_from_denoiser(x, self.denoise(process, x, t, output), a, s)

    def output_from_score(self, process: SDE, x: Array, t: Array, score: Array) -> Array:
        """The network output that this parameterisation maps to `score` (the inverse of `score`)."""
        a, s = self.path_coefficients(process, t, x)
        c_skip, c_out = self.output_coefficients(process, t, x)
        return (conversions.denoiser_from_score(x, score, a, s) - c_skip * x) / c_out

    @staticmethod
    def _noisy(process: SDE, x0: Array, z: Array, t: Array) -> Array:
        a, s = _coefficients(process, t, x0)
        return a * x0 + s * z


def register(name: str):
    def add(cls):
        cls.name = name
        return PARAMETERIZATIONS.register(name)(cls)

    return add


@register("reference_noise")
@dataclasses.dataclass(frozen=True)
class ReferenceNoise(Parameterization):
    """The reference's VP / sub-VP networks: noise prediction, score = -F / std.

    Continuous (and always for sub-VP): label t 999, std = s(t). Discrete VP (DDPM): label
    t (N - 1), std from the DDPM schedule sqrt(1 - abar_i) of that label.
    """

    continuous: bool = True
    native_weighting: ClassVar[str] = "eps"
    default_weighting: ClassVar[str] = "eps"

    def network_inputs(self, process, x, t):
        return x, t * 999.0 if self.continuous else t * (process.N - 1)

    def path_coefficients(self, process, t, x):
        if self.continuous:
            return _coefficients(process, t, x)
        label = (t * (process.N - 1)).astype(jnp.int32)  # the DDPM chain's abar of the label
        return (
            batch_broadcast(process.sqrt_alphas_cumprod[label], x),
            batch_broadcast(process.sqrt_1m_alphas_cumprod[label], x),
        )

    def output_coefficients(self, process, t, x):
        a, s = self.path_coefficients(process, t, x)
        return 1.0 / a, -s / a

    def target(self, process, x0, z, t):
        return z

    def score(self, process, x, t, output):
        return -output / self.path_coefficients(process, t, x)[1]


@register("reference_score")
@dataclasses.dataclass(frozen=True)
class ReferenceScore(Parameterization):
    """The reference's VE networks: the output is the score (NCSN++ divides by sigma itself with
    scale_by_sigma). Label sigma(t) when continuous, the SMLD index round((T - t)(N - 1)) when not."""

    continuous: bool = True
    native_weighting: ClassVar[str] = "score"
    default_weighting: ClassVar[str] = "eps"  # the reference's DSM: lambda = s^2 on the score

    def network_inputs(self, process, x, t):
        if self.continuous:
            return x, process.marginal_coefficients(t)[1]
        return x, jnp.round((process.T - t) * (process.N - 1)).astype(jnp.int32)

    def output_coefficients(self, process, t, x):
        a, s = _coefficients(process, t, x)
        return 1.0 / a, s**2 / a

    def target(self, process, x0, z, t):
        return -z / _coefficients(process, t, z)[1]

    def score(self, process, x, t, output):
        return output


@dataclasses.dataclass(frozen=True)
class _Conditioned(Parameterization):
    """Shared inputs of the non-reference parameterisations: c_in = 1 / sqrt(a^2 + s^2) and the
    configured noise condition."""

    noise_condition: str = "log_sigma"

    def __post_init__(self):
        if self.noise_condition not in NOISE_CONDITIONS:
            raise ValueError(f"noise_condition={self.noise_condition!r}: choose from {NOISE_CONDITIONS}")

    def c_noise(self, process: SDE, t: Array) -> Array:
        if self.noise_condition == "time":
            return t * (999.0 / process.T)
        log_sigma = -0.5 * process.log_snr(t)
        return 0.25 * log_sigma if self.noise_condition == "log_sigma" else jnp.exp(log_sigma)

    def network_inputs(self, process, x, t):
        a, s = _coefficients(process, t, x)
        return x / jnp.sqrt(a**2 + s**2), self.c_noise(process, t)


@register("eps")
@dataclasses.dataclass(frozen=True)
class EpsPrediction(_Conditioned):
    """Noise prediction: F ~ eps, D = (x - s F) / a."""

    native_weighting: ClassVar[str] = "eps"
    default_weighting: ClassVar[str] = "eps"

    def output_coefficients(self, process, t, x):
        a, s = _coefficients(process, t, x)
        return 1.0 / a, -s / a

    def target(self, process, x0, z, t):
        return z


@register("x0")
@dataclasses.dataclass(frozen=True)
class DataPrediction(_Conditioned):
    """Data prediction: F ~ x_0 = D."""

    native_weighting: ClassVar[str] = "x0"
    default_weighting: ClassVar[str] = "x0"

    def output_coefficients(self, process, t, x):
        ones = batch_broadcast(jnp.ones_like(t), x)
        return 0.0 * ones, ones

    def target(self, process, x0, z, t):
        return x0


@register("v")
@dataclasses.dataclass(frozen=True)
class VPrediction(_Conditioned):
    """v-prediction (Salimans & Ho 2022): F ~ v = (a eps - s x_0) / r with r = sqrt(a^2 + s^2), the
    velocity of the angle on the VP circle; D = (a x / r - s F) / r."""

    native_weighting: ClassVar[str] = "v"
    default_weighting: ClassVar[str] = "v"

    def output_coefficients(self, process, t, x):
        a, s = _coefficients(process, t, x)
        r2 = a**2 + s**2
        return a / r2, -s / jnp.sqrt(r2)

    def target(self, process, x0, z, t):
        a, s = _coefficients(process, t, x0)
        return (a * z - s * x0) / jnp.sqrt(a**2 + s**2)


@register("velocity")
@dataclasses.dataclass(frozen=True)
class FlowVelocity(_Conditioned):
    """Flow-matching velocity: F ~ dx_t/dt = a' x_0 + s' eps (z - x_0 on the linear flow);
    D = (s' x - s F) / (a s' - s a')."""

    native_weighting: ClassVar[str] = "velocity"
    default_weighting: ClassVar[str] = "velocity"

    def output_coefficients(self, process, t, x):
        a, s = _coefficients(process, t, x)
        da, ds = _derivatives(process, t, x)
        denominator = a * ds - s * da
        return ds / denominator, -s / denominator

    def target(self, process, x0, z, t):
        da, ds = _derivatives(process, t, x0)
        return da * x0 + ds * z


@register("edm")
@dataclasses.dataclass(frozen=True)
class EDMPreconditioning(Parameterization):
    """EDM's preconditioning (Karras et al. 2022, table 1) on any path, in the scaled space
    x~ = x / a with sigma~ = s / a: D = c_skip x~ + c_out F(c_in x~, c_noise) with
    c_skip = sd^2 / (sigma~^2 + sd^2), c_out = sigma~ sd / sqrt(sigma~^2 + sd^2),
    c_in = 1 / sqrt(sigma~^2 + sd^2), c_noise = 1/4 ln sigma~ (sd = sigma_data); see
    `noise_condition` in the module docstring for Fourier-embedding networks."""

    sigma_data: float = 0.5
    noise_condition: str = "log_sigma"
    native_weighting: ClassVar[str] = "edm"
    default_weighting: ClassVar[str] = "edm"

    def __post_init__(self):
        if not self.sigma_data > 0:
            raise ValueError(f"sigma_data must be positive; got {self.sigma_data!r}")
        if self.noise_condition not in ("log_sigma", "sigma"):
            raise ValueError(
                f"EDM preconditioning: noise_condition={self.noise_condition!r}: choose from ('log_sigma', 'sigma')"
            )

    def _scaled(self, process, t, x):
        a, s = _coefficients(process, t, x)
        return a, s / a

    def network_inputs(self, process, x, t):
        a, sigma = self._scaled(process, t, x)
        log_sigma = -0.5 * process.log_snr(t)
        c_noise = 0.25 * log_sigma if self.noise_condition == "log_sigma" else jnp.exp(log_sigma)
        return x / (a * jnp.sqrt(sigma**2 + self.sigma_data**2)), c_noise

    def output_coefficients(self, process, t, x):
        a, sigma = self._scaled(process, t, x)
        norm = sigma**2 + self.sigma_data**2
        return self.sigma_data**2 / (norm * a), sigma * self.sigma_data / jnp.sqrt(norm)


@register("trigflow")
@dataclasses.dataclass(frozen=True)
class TrigFlowParameterization(Parameterization):
    """TrigFlow's (Lu & Song 2025) on its path: D = cos t x - sin t sigma_d F(x / sigma_d, t), the network
    F ~ the velocity dx/dt / sigma_d = cos t z - sin t x_0 / sigma_d, fed the time itself (c_noise = t,
    for positional embeddings); its unweighted |F - target|^2 is EDM's weighting of |D - x_0|^2."""

    sigma_data: float = 0.5
    native_weighting: ClassVar[str] = "edm"
    default_weighting: ClassVar[str] = "edm"

    @classmethod
    def from_config(cls, config, process: SDE, noise_condition: str) -> "TrigFlowParameterization":
        """config.model.sigma_data; refuses, in one line, a process other than TrigFlow's path."""
        if not isinstance(process, TrigFlowPath):
            raise ValueError(
                "config.model.parameterization='trigflow' is defined on TrigFlow's path: set "
                f"config.training.sde='trigflow'; got {config.training.sde!r}"
            )
        return cls(process.sigma_data)

    def network_inputs(self, process, x, t):
        return x / self.sigma_data, t

    def output_coefficients(self, process, t, x):
        return batch_broadcast(jnp.cos(t), x), batch_broadcast(-self.sigma_data * jnp.sin(t), x)


class NetworkScore(eqx.Module):
    """A network with its parameters as a score function on a process: `model(x, t)` is the score,
    `model.denoise(x, t)` the denoiser. A pytree whose arrays (the parameters, the labels) are
    traced, so samplers and the likelihood compile once for all parameters of the same shapes.

    Args:
      apply_fn: apply_fn(params, x_in, c_noise, labels=labels) -> output in evaluation mode;
        hashable (e.g. `score_sde.models.NetApply`), as it is part of the compiled program.
      labels: class labels (B,) of a class-conditional network, or None.
    """

    apply_fn: Callable[..., Array] = eqx.field(static=True)
    params: object
    process: SDE  # static unless it has arrays of its own (a learned schedule's, traced)
    parameterization: Parameterization = eqx.field(static=True)
    labels: Array | None = None

    def output(self, x: Array, t: Array) -> Array:
        x_in, c_noise = self.parameterization.network_inputs(self.process, x, t)
        return self.apply_fn(self.params, x_in, c_noise, labels=self.labels)

    def __call__(self, x: Array, t: Array) -> Array:
        return self.parameterization.score(self.process, x, t, self.output(x, t))

    def denoise(self, x: Array, t: Array) -> Array:
        return self.parameterization.denoise(self.process, x, t, self.output(x, t))


class ConditionalNetworkScore(eqx.Module):
    """score(x, t, labels) of a class-conditional `NetworkScore`, for classifier-free guidance."""

    network: NetworkScore

    def __call__(self, x: Array, t: Array, labels: Array) -> Array:
        net = self.network
        return NetworkScore(net.apply_fn, net.params, net.process, net.parameterization, labels)(x, t)


def get_parameterization(config, process: SDE, default: str | None = None) -> Parameterization:
    """The parameterisation of config.model.parameterization ("auto": `default`, a kind of model's
    own (a student's), or else the process's `default_parameterization`: the reference's for VP,
    sub-VP and VE, velocity for the linear flow, EDM's for the EDM path, eps otherwise), with
    config.training.continuous, config.model.noise_condition ("auto": "sigma" for Fourier
    embeddings, else "log_sigma") and config.model.sigma_data."""
    model = config.model
    name = str(model.parameterization)
    if name == "auto":
        name = default or process.default_parameterization
    cls = PARAMETERIZATIONS.get(name, "config.model.parameterization")
    continuous = bool(config.training.continuous)
    if not continuous and not process.discrete_chain_labels:
        raise ValueError(
            f"config.training.continuous=False needs config.training.sde 'vpsde' or 'vesde' (the "
            f"reference's discrete DDPM and SMLD losses); got {config.training.sde!r}"
        )
    if cls in (ReferenceNoise, ReferenceScore):
        if name != process.default_parameterization:
            raise ValueError(
                f"config.model.parameterization={name!r} is the reference's for other processes than "
                f"config.training.sde={config.training.sde!r}; use "
                f"{process.default_parameterization!r}, 'eps', ... or 'auto'"
            )
        return cls(continuous=continuous)
    if not continuous:
        raise ValueError(
            f"config.training.continuous=False (the discrete DDPM / SMLD losses) needs the reference "
            f"parameterisation; got config.model.parameterization={name!r}"
        )
    if bool(model.scale_by_sigma):
        raise ValueError(
            f"config.model.scale_by_sigma=True divides the output by the noise input, which only the "
            f"reference VE parameterisation feeds; got config.model.parameterization={name!r}"
        )
    condition = str(model.noise_condition)
    if condition == "auto":
        condition = "sigma" if str(model.embedding_type) == "fourier" else "log_sigma"
    if cls is EDMPreconditioning:
        return cls(sigma_data=float(model.sigma_data), noise_condition=condition)
    if hasattr(cls, "from_config"):  # parameterisations with settings of their own (a consistency student's)
        return cls.from_config(config, process, condition)
    return cls(noise_condition=condition)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.parameterization": Setting(
        "auto",
        ("reference_noise, reference_score, eps, x0, v, velocity, edm; auto: the process's"),
        choice_of(PARAMETERIZATIONS, "auto"),
    ),
    "model.noise_condition": Setting(
        "auto",
        ("what non-reference parameterisations feed: log_sigma, sigma, time; auto: by embedding"),
        choice("auto", *NOISE_CONDITIONS),
    ),
    "model.sigma_data": Setting(
        0.5, "edm parameterisation and loss weighting: the data's standard deviation", POSITIVE
    ),
}
