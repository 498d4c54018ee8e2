"""The few-step samplers of distilled students, as `score_sde.sampling.SAMPLERS` entries.

Both see the student through its denoiser (`denoiser_of(process, score_fn)`: a network's own
output through its parameterisation), so they sample any score function, a teacher's included.
"""

import dataclasses
from typing import ClassVar, final

import numpy as np

from score_sde.conversions import denoiser_of
from score_sde.distillation.consistency import sample_consistency
from score_sde.distillation.progressive import sample_few_step
from score_sde.sampling.samplers import Sampler, config_steps, register
from score_sde.sde import get_timesteps
from score_sde.settings import Setting


@register
@final
@dataclasses.dataclass(frozen=True)
class FewStep(Sampler):
    """A progressive-distillation student's deterministic DDIM steps on the time-uniform grid it was
    trained on (`sample_few_step`), num_steps evaluations."""

    name: ClassVar[str] = "few_step"
    num_steps: int = 1
    eps: float = 1e-3

    @classmethod
    def from_config(cls, sampling) -> "FewStep":
        return cls(num_steps=config_steps(sampling) or cls.num_steps, eps=float(sampling.eps))

    def __call__(self, rng, process, score_fn, shape):
        return sample_few_step(rng, process, denoiser_of(process, score_fn), shape, self.num_steps, self.eps)

    @property
    def marginal_score_use(self) -> str:
        return ""


@register
@final
@dataclasses.dataclass(frozen=True)
class Consistency(Sampler):
    """Multistep consistency sampling (`sample_consistency`) at num_steps times from T: the first of the
    Karras grid (exponent rho), or T and the first num_steps - 1 of the given `times` (descending, in the
    process's time: iCT's 0.821 on EDM's path, sCM's 1.1 on TrigFlow's); one step is f(x_T, T)."""

    name: ClassVar[str] = "consistency"
    num_steps: int = 1
    eps: float = 1e-3
    rho: float = 7.0
    times: tuple[float, ...] = ()

    @classmethod
    def from_config(cls, sampling) -> "Consistency":
        return cls(
            num_steps=config_steps(sampling) or cls.num_steps,
            eps=float(sampling.eps),
            rho=float(sampling.rho),
            times=tuple(float(t) for t in sampling.consistency_times),
        )

    def __call__(self, rng, process, score_fn, shape):
        if not self.times:
            times = get_timesteps(process, self.num_steps, self.eps, "karras", self.rho)[:-1]
        else:
            times = np.asarray((process.T, *self.times[: self.num_steps - 1]))
            if len(times) < self.num_steps or not (np.all(np.diff(times) < 0) and times[-1] > self.eps):
                raise ValueError(
                    f"config.sampling.consistency_times={self.times} for {self.num_steps} steps: give at least "
                    f"num_steps - 1 times, descending from below T={process.T:g} and above eps={self.eps:g}"
                )
        return sample_consistency(rng, process, denoiser_of(process, score_fn), shape, times, self.eps)

    @property
    def marginal_score_use(self) -> str:
        return ""


def _positive_numbers(values) -> str | None:
    return None if all(isinstance(v, (int, float)) and v > 0 for v in values) else "must hold positive times"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.consistency_times": Setting(
        (),
        (
            "consistency: the times after T of multistep sampling, descending, the first num_steps - 1 of them "
            "used (iCT's two steps on edm: (0.821,); sCM's on trigflow: (1.1,)); (): the Karras grid's"
        ),
        _positive_numbers,
    ),
}
