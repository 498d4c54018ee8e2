"""Samplers as configured objects: `sampler(rng, process, score_fn, shape) -> (samples, nfe)`.

Each sampler is a frozen dataclass of its settings (diffrax's solver objects), with
`from_config(config.sampling)` reading its own fields and `marginal_score_use`, the part of it
that needs the score of the Gaussian path's marginals ("" when it integrates the probability
flow alone: what a reflowed flow may be sampled with). `SAMPLERS` maps config.sampling.method
to the class; a new sampler is one class registered there.

    sampler = Heun(num_steps=18)
    x, nfe = sampler(rng, process, score_fn, (64, 32, 32, 3))

The plain functions (`sample_pc`, `sample_ode`, ...) are what each object calls.
"""

import abc
import dataclasses
from typing import ClassVar, final

from score_sde._types import NFE, Array, ScoreFn
from score_sde.registry import Registry
from score_sde.sampling.ddim import sample_ddim
from score_sde.sampling.dpm_solver import sample_dpm_solver
from score_sde.sampling.heun import sample_heun
from score_sde.sampling.inpaint import sample_colorize, sample_inpaint
from score_sde.sampling.interpolation import interpolate
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, sample_pc
from score_sde.sampling.probability_flow import decode, encode, sample_ode
from score_sde.sampling.reverse_sde import SDE_SOLVERS, sample_sde
from score_sde.sde import SCHEDULES, SDE


class Sampler(abc.ABC):
    """A configured sampler; concrete samplers are final frozen dataclasses registered in `SAMPLERS`."""

    name: ClassVar[str]
    # whether it integrates the probability-flow ODE in continuous time (then a discrete-trained
    # reference network takes continuous labels, config.sampling.ode_score)
    continuous_ode: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def from_config(cls, sampling) -> "Sampler":
        """The sampler of config.sampling's fields (0 steps: the sampler's own default)."""

    @abc.abstractmethod
    def __call__(self, rng: Array, process: SDE, score_fn: ScoreFn, shape: tuple[int, ...]) -> tuple[Array, NFE]:
        """Samples (shape) from `process`'s prior at T down to the data, and the network evaluations."""

    @property
    @abc.abstractmethod
    def marginal_score_use(self) -> str:
        """The part of this sampler that follows the score of the marginals (the reverse SDE, Langevin
        correctors, injected noise), "" if it integrates the probability flow alone."""


SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


def register(cls: type[Sampler]) -> type[Sampler]:
    """Class decorator: registers a sampler under its `name` (config.sampling.method)."""
    return SAMPLERS.register(cls.name)(cls)


def _steps(sampling) -> int | None:
    return int(sampling.num_steps) or None


def _schedule(sampling) -> str | None:
    """config.sampling.schedule, None for "auto" (the sampler's or the process's default)."""
    return None if sampling.schedule == "auto" else str(sampling.schedule)


def _choose(value: str, allowed, setting: str) -> None:
    if value not in allowed:
        raise ValueError(f"{setting}={value!r}: choose from {tuple(allowed)}")


@register
@final
@dataclasses.dataclass(frozen=True)
class PredictorCorrector(Sampler):
    """The reference's predictor-corrector sampler (`sample_pc`); also inpaints and colorizes.

    num_steps None: the process's N. probability_flow: the predictor steps the probability-flow ODE.
    """

    name: ClassVar[str] = "pc"
    predictor: str = "reverse_diffusion"
    corrector: str = "langevin"
    snr: float = 0.16
    n_steps_each: int = 1
    num_steps: int | None = None
    eps: float | None = None
    denoise: bool = True
    probability_flow: bool = False

    def __post_init__(self):
        _choose(self.predictor, PREDICTORS.names(), "predictor")
        _choose(self.corrector, CORRECTORS.names(), "corrector")
        if self.probability_flow and self.predictor == "ancestral_sampling":
            raise ValueError(
                "config.sampling.probability_flow=True with predictor='ancestral_sampling': ancestral sampling has "
                "no probability-flow form (as in the reference); choose reverse_diffusion, euler_maruyama or none"
            )

    @classmethod
    def from_config(cls, sampling) -> "PredictorCorrector":
        return cls(
            predictor=str(sampling.predictor),
            corrector=str(sampling.corrector),
            snr=float(sampling.snr),
            n_steps_each=int(sampling.n_steps_each),
            num_steps=_steps(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
            probability_flow=bool(sampling.probability_flow),
        )

    def _settings(self) -> dict:
        return dataclasses.asdict(self)

    def __call__(self, rng, process, score_fn, shape):
        return sample_pc(rng, process, score_fn, shape, **self._settings())

    def inpaint(self, rng: Array, process: SDE, score_fn: ScoreFn, data: Array, mask: Array) -> tuple[Array, NFE]:
        """`sample_inpaint` with these settings: fills in where `mask` (broadcast to data) is 0."""
        return sample_inpaint(rng, process, score_fn, data, mask, **self._settings())

    def colorize(self, rng: Array, process: SDE, score_fn: ScoreFn, gray: Array) -> tuple[Array, NFE]:
        """`sample_colorize` with these settings: colour images (B, H, W, 3) of gray levels."""
        return sample_colorize(rng, process, score_fn, gray, **self._settings())

    @property
    def marginal_score_use(self) -> str:
        if not self.probability_flow:
            return "the reverse-SDE predictor"
        return f"the {self.corrector} corrector" if self.corrector != "none" else ""


@register
@final
@dataclasses.dataclass(frozen=True)
class ProbabilityFlowODE(Sampler):
    """The probability-flow ODE (`sample_ode`): adaptive with rtol/atol when num_steps is None, else
    num_steps fixed steps on `schedule`; also encodes data to latents, decodes and interpolates."""

    name: ClassVar[str] = "ode"
    continuous_ode: ClassVar[bool] = True
    solver: str = "tsit5"
    rtol: float = 1e-5
    atol: float = 1e-5
    eps: float | None = None
    denoise: bool = True
    denoise_step: str = "tweedie"
    num_steps: int | None = None
    schedule: str | None = None
    max_steps: int = 4096

    @classmethod
    def from_config(cls, sampling) -> "ProbabilityFlowODE":
        return cls(
            solver=str(sampling.ode_solver),
            rtol=float(sampling.rtol),
            atol=float(sampling.atol),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
            denoise_step=str(sampling.ode_denoise_step),
            num_steps=int(sampling.ode_num_steps) or None,
            schedule=_schedule(sampling),
        )

    def _solve_settings(self) -> dict:
        """The settings of one solve between eps and T (encode, decode, interpolate)."""
        return dict(
            eps=self.eps,
            solver=self.solver,
            rtol=self.rtol,
            atol=self.atol,
            num_steps=self.num_steps,
            schedule=self.schedule,
            max_steps=self.max_steps,
        )

    def __call__(self, rng, process, score_fn, shape):
        return sample_ode(rng, process, score_fn, shape, **dataclasses.asdict(self))

    def encode(self, process: SDE, score_fn: ScoreFn, x: Array) -> tuple[Array, NFE]:
        """Latents z at T (B, *event) of data x at eps, and nfe."""
        return encode(process, score_fn, x, **self._solve_settings())

    def decode(self, process: SDE, score_fn: ScoreFn, z: Array) -> tuple[Array, NFE]:
        """Data at eps of latents z (B, *event) at T, and nfe (no final denoising step)."""
        return decode(process, score_fn, z, **self._solve_settings())

    def interpolate(self, process: SDE, score_fn: ScoreFn, x0: Array, x1: Array, num_points: int) -> tuple[Array, NFE]:
        """`interpolate`: paths (B, num_points, *event) between x0 and x1 through the latents."""
        return interpolate(process, score_fn, x0, x1, num_points, **self._solve_settings())

    @property
    def marginal_score_use(self) -> str:
        return ""


@register
@final
@dataclasses.dataclass(frozen=True)
class ReverseTimeSDE(Sampler):
    """The reverse-time SDE by a diffrax solver (`sample_sde`); num_steps None: the process's N."""

    name: ClassVar[str] = "sde"
    solver: str = "euler_maruyama"
    num_steps: int | None = None
    schedule: str | None = None
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        _choose(self.solver, SDE_SOLVERS.names(), "sde_solver")

    @classmethod
    def from_config(cls, sampling) -> "ReverseTimeSDE":
        return cls(
            solver=str(sampling.sde_solver),
            num_steps=_steps(sampling),
            schedule=_schedule(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        settings = {**dataclasses.asdict(self), "num_steps": self.num_steps or process.N}
        return sample_sde(rng, process, score_fn, shape, **settings)

    @property
    def marginal_score_use(self) -> str:
        return "the reverse SDE"


@register
@final
@dataclasses.dataclass(frozen=True)
class DDIM(Sampler):
    """DDIM (`sample_ddim`): deterministic at eta = 0, ancestral at eta = 1."""

    name: ClassVar[str] = "ddim"
    num_steps: int = 50
    eta: float = 0.0
    schedule: str | None = None
    eps: float | None = None
    denoise: bool = True

    @classmethod
    def from_config(cls, sampling) -> "DDIM":
        return cls(
            num_steps=_steps(sampling) or cls.num_steps,
            eta=float(sampling.eta),
            schedule=_schedule(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        return sample_ddim(rng, process, score_fn, shape, **dataclasses.asdict(self))

    @property
    def marginal_score_use(self) -> str:
        return "DDIM's noise (eta > 0)" if self.eta > 0.0 else ""


@register
@final
@dataclasses.dataclass(frozen=True)
class Heun(Sampler):
    """EDM's Heun sampler (`sample_heun`), deterministic unless S_churn > 0; 18 levels are 35 NFE."""

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
        if self.num_steps < 2:
            raise ValueError(
                f"config.sampling.num_steps={self.num_steps}: heun needs at least 2 noise levels (0: EDM's 18)"
            )

    @classmethod
    def from_config(cls, sampling) -> "Heun":
        return cls(
            num_steps=_steps(sampling) or cls.num_steps,
            schedule=_schedule(sampling) or cls.schedule,
            rho=float(sampling.rho),
            S_churn=float(sampling.S_churn),
            S_min=float(sampling.S_min),
            S_max=float(sampling.S_max),
            S_noise=float(sampling.S_noise),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        return sample_heun(rng, process, score_fn, shape, **dataclasses.asdict(self))

    @property
    def marginal_score_use(self) -> str:
        return "EDM's churn (S_churn > 0)" if self.S_churn > 0.0 else ""


@register
@final
@dataclasses.dataclass(frozen=True)
class DPMSolver(Sampler):
    """DPM-Solver++ (`sample_dpm_solver`), order 1 or 2 (2M), on the log-SNR-uniform grid by default."""

    name: ClassVar[str] = "dpm_solver"
    num_steps: int = 20
    order: int = 2
    schedule: str = "log_snr_uniform"
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        _choose(self.schedule, SCHEDULES, "schedule")

    @classmethod
    def from_config(cls, sampling) -> "DPMSolver":
        return cls(
            num_steps=_steps(sampling) or cls.num_steps,
            order=int(sampling.order),
            schedule=_schedule(sampling) or cls.schedule,
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        return sample_dpm_solver(rng, process, score_fn, shape, **dataclasses.asdict(self))

    @property
    def marginal_score_use(self) -> str:
        return ""
