"""The few-step samplers of distilled students, as `score_sde.sampling.SAMPLERS` entries.

Both see the student through its denoiser (`denoiser_of(process, score_fn)`: a network's own
output through its parameterisation), so they sample any score function, a teacher's included.
"""

import dataclasses
from typing import ClassVar, final

from score_sde.conversions import denoiser_of
from score_sde.distillation.consistency import sample_consistency
from score_sde.distillation.progressive import sample_few_step
from score_sde.sampling.samplers import Sampler, config_steps, register
from score_sde.sde import get_timesteps


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
    """Multistep consistency sampling (`sample_consistency`) at the first num_steps times of the
    Karras grid from T (exponent rho); one step is f(x_T, T)."""

    name: ClassVar[str] = "consistency"
    num_steps: int = 1
    eps: float = 1e-3
    rho: float = 7.0

    @classmethod
    def from_config(cls, sampling) -> "Consistency":
        return cls(num_steps=config_steps(sampling) or cls.num_steps, eps=float(sampling.eps), rho=float(sampling.rho))

    def __call__(self, rng, process, score_fn, shape):
        times = get_timesteps(process, self.num_steps, self.eps, "karras", self.rho)[:-1]
        return sample_consistency(rng, process, denoiser_of(process, score_fn), shape, times, self.eps)

    @property
    def marginal_score_use(self) -> str:
        return ""
