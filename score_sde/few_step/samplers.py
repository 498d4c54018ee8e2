"""The sampler of MeanFlow models, as a `score_sde.sampling.SAMPLERS` entry (iCT models take the
consistency sampler, `score_sde.distillation.Consistency`)."""

import dataclasses
from typing import ClassVar, final

import numpy as np

from score_sde.few_step.mean_flow import average_velocity, sample_mean_flow
from score_sde.sampling.samplers import Sampler, config_steps, register


@register
@final
@dataclasses.dataclass(frozen=True)
class MeanFlowSampler(Sampler):
    """num_steps jumps of a MeanFlow model's average velocity, z_r = z_t - (t - r) u(z_t, r, t), on the
    time-uniform grid from t = 1 (noise) to 0 (`sample_mean_flow`); one step is x = e - u(e, 0, 1)."""

    name: ClassVar[str] = "mean_flow"
    num_steps: int = 1

    @classmethod
    def from_config(cls, sampling) -> "MeanFlowSampler":
        return cls(num_steps=config_steps(sampling) or cls.num_steps)

    def __call__(self, rng, process, score_fn, shape):
        times = np.linspace(1.0, 0.0, self.num_steps + 1)
        return sample_mean_flow(rng, average_velocity(score_fn), shape, times)

    @property
    def marginal_score_use(self) -> str:
        return ""
