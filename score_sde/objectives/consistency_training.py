"""The consistency-training objective: iCT (Song & Dhariwal, ICLR 2024), a consistency model trained
from scratch (`score_sde.few_step.consistency_training`), sampled in one or a few steps by the
consistency sampler. It needs no teacher and no EMA target; the run's EMA (config.model.ema_rate)
is the model evaluated and sampled, as the paper's."""

import dataclasses
from typing import ClassVar, final

import jax

from score_sde.distillation import Consistency
from score_sde.distillation.students import network_denoiser
from score_sde.few_step.consistency_training import ConsistencyTrainingSchedule, consistency_training_loss
from score_sde.models import NetApply
from score_sde.objectives.base import (
    FewStepModel,
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    PlainOptimizer,
    refuse_latents,
    register,
)
from score_sde.objectives.denoising import NetworkOnFixedProcess
from score_sde.settings import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Setting


@register
@final
@dataclasses.dataclass(frozen=True)
class ConsistencyTraining(NetworkOnFixedProcess, FewStepModel, InDataSpace, GradientOfLoss, PlainOptimizer, Objective):
    """iCT's loss (`consistency_training_loss`) on the configured process with the consistency
    parameterisation, whose boundary eps is the grid's first time; the held-out loss uses the final
    N. Samples: the consistency sampler at `sample_steps` times from T (the Karras grid's, or T and
    `sample_times`)."""

    parts: Parts
    schedule: ConsistencyTrainingSchedule
    eps: float
    sample_steps: int = 1
    sample_times: tuple[float, ...] = ()
    name: ClassVar[str] = "consistency_training"
    figures: ClassVar[tuple[str, ...]] = ("loss", "samples")
    likelihood: ClassVar[str] = "none (a few-step sampler)"
    default_parameterization: ClassVar[str | None] = "consistency"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "ConsistencyTraining":
        if parts.parameterization.name != "consistency":
            raise ValueError(
                "config.training.objective='consistency_training' trains a consistency function: set "
                f"config.model.parameterization='consistency' (or 'auto'); got {config.model.parameterization!r}"
            )
        refuse_latents(parts, cls.name)
        ict = config.ict
        if int(ict.s0) > int(ict.s1):
            raise ValueError(f"config.ict.s0={ict.s0} must not exceed config.ict.s1={ict.s1}")
        schedule = ConsistencyTrainingSchedule(
            total_steps=int(config.training.n_iters),
            s0=int(ict.s0),
            s1=int(ict.s1),
            P_mean=float(ict.P_mean),
            P_std=float(ict.P_std),
            rho=float(ict.rho),
            huber_c=float(ict.huber_c),
        )
        eps = float(parts.parameterization.eps)  # type: ignore[attr-defined]
        times = tuple(float(t) for t in config.sampling.consistency_times)
        return cls(parts, schedule, eps, int(config.sampling.num_steps) or 1, times)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        parts = self.parts
        loss_rng, dropout_rng = jax.random.split(rng)
        consistency_fn = network_denoiser(
            NetApply(parts.network),
            params,
            parts.process,
            parts.parameterization,
            dropout_rng if train else None,
            labels,
        )
        return consistency_training_loss(loss_rng, parts.process, consistency_fn, x, self.schedule, self.eps, step)

    def sampler(self, sampling):
        return Consistency(num_steps=self.sample_steps, eps=self.eps, rho=self.schedule.rho, times=self.sample_times)

    def describe(self):
        s = self.schedule
        return (
            f"{self.name}: iCT, N from {s.s0 + 1} to {s.s1 + 1} points doubling over {s.total_steps} steps, "
            f"log-normal({s.P_mean}, {s.P_std}) intervals, pseudo-Huber c={s.huber_c or 'auto'}"
        )


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "ict.s0": Setting(10, "consistency_training: initial intervals of the grid (N(0) = s0 + 1 points)", AT_LEAST_ONE),
    "ict.s1": Setting(
        1280, "consistency_training: final intervals (N doubles from s0 up to s1 over training.n_iters)", AT_LEAST_ONE
    ),
    "ict.P_mean": Setting(-1.1, "consistency_training: mean of ln sigma~ of the drawn intervals (log-normal)"),
    "ict.P_std": Setting(2.0, "consistency_training: std of ln sigma~ of the drawn intervals", POSITIVE),
    "ict.rho": Setting(7.0, "consistency_training: the Karras grid's exponent (training and sampling)", POSITIVE),
    "ict.huber_c": Setting(
        0.0,
        "consistency_training: the pseudo-Huber distance's c (0: 0.00054 sqrt(dimensions), the paper's)",
        NON_NEGATIVE,
    ),
}
