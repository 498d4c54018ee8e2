"""Samplers as configured objects: `sampler(rng, process, score_fn, shape) -> (samples, nfe)`.

Each sampler is a final frozen dataclass of its settings (diffrax's solver objects), defined in
its own module (`PredictorCorrector` in pc.py, `ProbabilityFlowODE` in probability_flow.py,
...), with `from_config(config.sampling)` reading its own fields and `marginal_score_use`, the
part of it that needs the score of the Gaussian path's marginals ("" when it integrates the
probability flow alone: what a reflowed flow may be sampled with). `SAMPLERS` maps
config.sampling.method to the class; a new sampler is one class registered there.

    sampler = Heun(num_steps=18)
    x, nfe = sampler(rng, process, score_fn, (64, 32, 32, 3))

The plain functions (`sample_pc`, `sample_ode`, ...) build the object from their keywords and call it.
"""

import abc
from typing import ClassVar

from score_sde._types import NFE, Array, ScoreFn
from score_sde.registry import Registry
from score_sde.sde import SCHEDULES, SDE
from score_sde.settings import NON_NEGATIVE, POSITIVE, Setting, choice


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


def config_steps(sampling) -> int | None:
    """config.sampling.num_steps, None for 0 (the sampler's own default)."""
    return int(sampling.num_steps) or None


def config_schedule(sampling) -> str | None:
    """config.sampling.schedule, None for "auto" (the sampler's or the process's default)."""
    return None if sampling.schedule == "auto" else str(sampling.schedule)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.num_steps": Setting(
        0, ("pc, sde, ddim, heun, dpm_solver: steps (0: N for pc / sde, the sampler's default otherwise)"), NON_NEGATIVE
    ),
    "sampling.eps": Setting(
        0.001, ("smallest time of a solve (the reference: 1e-3 for VP / sub-VP, 1e-5 for VE)"), POSITIVE
    ),
    "sampling.noise_removal": Setting(True, "end with the denoising step at eps"),
    "sampling.ode_score": Setting(
        "continuous",
        (
            "the probability-flow ODE (ode sampling, encode/decode, likelihood) of "
            "a discrete-trained network (training.continuous=False): continuous "
            "(the reference: continuous labels) or discrete (its training labels)"
        ),
        choice("continuous", "discrete"),
    ),
    "sampling.schedule": Setting(
        "auto",
        ("fixed-step grids: time_uniform, log_snr_uniform, karras; auto: the sampler's default"),
        choice("auto", *SCHEDULES),
    ),
}
