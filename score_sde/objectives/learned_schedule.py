"""VDM's objective (Kingma et al. 2021): the variational bound in bits/dim of a network and a
learned noise schedule (config.training.sde="learned_vp"), trained together."""

import dataclasses
from typing import ClassVar, final

from score_sde.models import NetApply
from score_sde.objectives.base import InDataSpace, Objective, Parts, PlainOptimizer, init_network, register
from score_sde.objectives.denoising import network_score, ode_log_likelihood, path_bits_per_dim
from score_sde.sampling import PredictorCorrector
from score_sde.sde import LearnedVPPath
from score_sde.variational_bound import BoundObjective


@register
@final
@dataclasses.dataclass(frozen=True)
class LearnedScheduleBound(InDataSpace, PlainOptimizer, Objective):
    """params {"network", "schedule"}: the bound of `BoundObjective`, whose gradient gives the
    schedule's shape the gradient of the bound's variance (VDM's variance minimisation); its
    decoder sits at t0 (config.training.eps)."""

    parts: Parts
    t0: float
    ode_score: str = "continuous"
    name: ClassVar[str] = "learned_schedule"
    figures: ClassVar[tuple[str, ...]] = ("loss", "likelihood", "samples")
    likelihood: ClassVar[str] = "the variational bound it trains on, or the probability-flow ODE of its schedule"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "LearnedScheduleBound":
        if not isinstance(parts.process, LearnedVPPath):
            raise ValueError(
                f"config.training.objective='learned_schedule' learns the schedule of config.training.sde="
                f"'learned_vp'; got {config.training.sde!r}"
            )
        if parts.data_range is not None and config.data.uniform_dequantization:
            raise ValueError(
                "config.training.sde='learned_vp' trains on the variational bound, whose decoder models 8-bit pixel "
                "levels: set config.data.uniform_dequantization=False"
            )
        return cls(parts, float(config.training.eps), str(config.sampling.ode_score))

    def _bound(self, train: bool) -> BoundObjective:
        parts, process = self.parts, self.parts.process
        assert isinstance(process, LearnedVPPath)  # from_config's check
        return BoundObjective(
            process, parts.parameterization, NetApply(parts.network), parts.data_range, self.t0, train
        )

    def init_params(self, rngs):
        return {"network": init_network(self.parts, rngs), "schedule": self.parts.process.params}

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        return self._bound(train)(params, rng, x, labels)

    def value_and_grad(self, params, rng, x, labels, noise, step):
        return self._bound(True).value_and_grad(params, rng, x, labels)

    def process(self, params):
        return self.parts.process.with_params(params["schedule"])

    def network_params(self, params):
        return params["network"]

    def score(self, params, labels=None, flow=False):
        return network_score(self.parts, params["network"], labels, flow, self.ode_score, self.process(params))

    def sampler(self, sampling):
        return PredictorCorrector.from_config(sampling)

    def check_sampler(self, sampler):
        return None

    def check_task(self, task):
        return None

    def bits_per_dim_fn(self, settings, data_range):
        return path_bits_per_dim(self, settings, data_range, self.t0)

    def log_likelihood_fn(self):
        return ode_log_likelihood(self)

    def describe(self):
        return f"{self.name}: VDM's variational bound in bits/dim, decoder at t0={self.t0:g}"
