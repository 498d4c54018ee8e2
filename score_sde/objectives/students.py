"""Distilled students of a trained teacher (`--mode distill`): progressive distillation (Salimans &
Ho 2022) and consistency distillation (Song et al. 2023). params {"student", "teacher"} (and
"target" for consistency); only the student is optimised (`student_optimizer`). A student's loss
needs its teacher's parameterisation, which `--mode distill` gives (`with_teacher`); a student is
a few-step sampler and defines no density."""

import dataclasses
from typing import ClassVar, final

import jax

from score_sde.distillation.consistency import METRICS, consistency_distillation_loss
from score_sde.distillation.progressive import PROGRESSIVE_WEIGHTINGS, progressive_distillation_loss
from score_sde.distillation.samplers import Consistency, FewStep
from score_sde.distillation.students import ConsistencySchedule, network_denoiser, student_optimizer, student_params
from score_sde.models import NetApply
from score_sde.objectives.base import (
    FewStepModel,
    GradientOfLoss,
    Objective,
    Parts,
    init_network,
    refuse_steering_latents,
    register,
)
from score_sde.objectives.denoising import network_score
from score_sde.parameterization import Parameterization
from score_sde.settings import AT_LEAST_ONE, BELOW_ONE, POSITIVE, Setting, choice, number


def _no_teacher(name: str) -> ValueError:
    return ValueError(
        f"a {name} student's loss needs its teacher, which only --mode distill loads: set config.eval.enable_loss=False"
    )


def _check_method(config, name: str, parameterizations: tuple[str, ...], parts: Parts) -> None:
    if str(config.distill.method) != name:
        raise ValueError(
            f"config.training.objective={name!r} is trained by --mode distill with config.distill.method={name!r}; "
            f"got {config.distill.method!r}"
        )
    if parts.parameterization.name not in parameterizations:
        raise ValueError(
            f"config.model.parameterization={config.model.parameterization!r}: a {name} student needs "
            f"{parameterizations[0] if len(parameterizations) == 1 else parameterizations!r} (or 'auto')"
        )


class StudentNetwork:
    """Mixin for objectives whose sampled network is params["student"] on the configured process (the
    distilled students, sCM)."""

    parts: Parts

    def process(self, params):
        return self.parts.process

    def network_params(self, params):
        return params["student"]

    def score(self, params, labels=None, flow=False):
        return network_score(self.parts, params["student"], labels, flow, "continuous")


class Student(StudentNetwork, FewStepModel, GradientOfLoss):
    """Mixin of what the two students share: their network is params["student"], in the teacher's
    space (a latent teacher's students draw latents, decoded to images); they take any sampler and
    define no density (their teacher does)."""

    name: ClassVar[str]
    parts: Parts

    def check_task(self, task):
        if self.parts.latent is not None:
            refuse_steering_latents(task)

    def data_view(self, data):
        return data if self.parts.latent is None else self.parts.latent.encoded(data)

    def to_data(self, x):
        return x if self.parts.latent is None else self.parts.latent.decode(x)

    def _no_density(self) -> ValueError:
        return ValueError(
            f"a {self.name} student (config.distill.method) is a few-step sampler and defines no density: "
            "compute the likelihood of its teacher (config.distill.teacher) instead"
        )


@register
@final
@dataclasses.dataclass(frozen=True)
class ProgressiveStudent(Student, Objective):
    """One round of progressive distillation: the student's one DDIM step matches the teacher's two,
    num_student_steps steps in all (`progressive_distillation_loss`, weighting config.distill.weighting)."""

    parts: Parts
    num_student_steps: int
    eps: float
    weighting: str
    teacher_parameterization: Parameterization | None = None
    name: ClassVar[str] = "progressive"
    figures: ClassVar[tuple[str, ...]] = ("samples",)
    likelihood: ClassVar[str] = "none (a few-step sampler)"
    default_parameterization: ClassVar[str | None] = "v"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "ProgressiveStudent":
        _check_method(config, cls.name, ("v", "x0"), parts)
        steps = int(config.sampling.num_steps) or int(config.distill.final_steps)
        return cls(parts, steps, float(config.sampling.eps), str(config.distill.weighting))

    def with_teacher(self, parameterization: Parameterization, num_student_steps: int) -> "ProgressiveStudent":
        """This student learning from a teacher of `parameterization` to sample in `num_student_steps`."""
        return dataclasses.replace(self, teacher_parameterization=parameterization, num_student_steps=num_student_steps)

    def init_params(self, rngs):
        network = init_network(self.parts, rngs)
        return student_params(network, network, with_target=False)

    def optimizer(self, inner):
        return student_optimizer(inner)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        if self.teacher_parameterization is None:
            raise _no_teacher(self.name)
        process, net_apply = self.parts.process, NetApply(self.parts.network)
        loss_rng, dropout_rng = jax.random.split(rng)
        student = network_denoiser(
            net_apply, params["student"], process, self.parts.parameterization, dropout_rng if train else None, labels
        )
        teacher = network_denoiser(net_apply, params["teacher"], process, self.teacher_parameterization, None, labels)
        return progressive_distillation_loss(
            loss_rng, process, student, teacher, x, self.num_student_steps, self.eps, self.weighting
        )

    def sampler(self, sampling):
        return FewStep(num_steps=self.num_student_steps, eps=self.eps)

    def describe(self):
        return f"{self.name}: student of {self.num_student_steps} DDIM steps, {self.weighting} weighting"


@register
@final
@dataclasses.dataclass(frozen=True)
class ConsistencyStudent(Student, Objective):
    """Consistency distillation of the teacher's probability-flow ODE (`consistency_distillation_loss`):
    the student at t_{n+1} matches the EMA target at the teacher's Heun step to t_n, N points on the
    Karras grid (exponent rho) by `schedule`, distance `metric` ("l2" or "l1")."""

    parts: Parts
    schedule: ConsistencySchedule
    eps: float
    rho: float
    metric: str
    sample_steps: int = 1
    sample_times: tuple[float, ...] = ()
    teacher_parameterization: Parameterization | None = None
    name: ClassVar[str] = "consistency"
    figures: ClassVar[tuple[str, ...]] = ("samples",)
    likelihood: ClassVar[str] = "none (a few-step sampler)"
    default_parameterization: ClassVar[str | None] = "consistency"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "ConsistencyStudent":
        _check_method(config, cls.name, ("consistency",), parts)
        distill = config.distill
        schedule = ConsistencySchedule(
            adaptive=distill.points_schedule == "adaptive",
            num_points=int(distill.num_points),
            target_decay=float(distill.target_decay),
            s0=int(distill.s0),
            s1=int(distill.s1),
            total_steps=int(config.training.n_iters),
        )
        return cls(
            parts,
            schedule,
            float(config.sampling.eps),
            float(distill.rho),
            str(distill.metric),
            int(config.sampling.num_steps) or 1,
            tuple(float(t) for t in config.sampling.consistency_times),
        )

    def with_teacher(self, parameterization: Parameterization) -> "ConsistencyStudent":
        """This student learning from a teacher of `parameterization`."""
        return dataclasses.replace(self, teacher_parameterization=parameterization)

    def init_params(self, rngs):
        network = init_network(self.parts, rngs)
        return student_params(network, network, with_target=True)

    def optimizer(self, inner):
        return student_optimizer(inner, self.schedule.decay)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        if self.teacher_parameterization is None:
            raise _no_teacher(self.name)
        process, net_apply, parameterization = (
            self.parts.process,
            NetApply(self.parts.network),
            self.parts.parameterization,
        )
        loss_rng, dropout_rng = jax.random.split(rng)
        dropout_rng = dropout_rng if train else None
        student = network_denoiser(net_apply, params["student"], process, parameterization, dropout_rng, labels)
        target = network_denoiser(net_apply, params["target"], process, parameterization, None, labels)
        teacher = network_denoiser(net_apply, params["teacher"], process, self.teacher_parameterization, None, labels)
        return consistency_distillation_loss(
            loss_rng, process, student, target, teacher, x, self.schedule.points(step), self.eps, self.rho, self.metric
        )

    def sampler(self, sampling):
        return Consistency(num_steps=self.sample_steps, eps=self.eps, rho=self.rho, times=self.sample_times)

    def describe(self):
        schedule = "adaptive N(k)" if self.schedule.adaptive else f"N={self.schedule.num_points}"
        return f"{self.name}: consistency distillation, {schedule}, {self.metric} distance"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "distill.method": Setting(
        "",
        (
            "--mode distill: progressive (Salimans & Ho 2022), consistency (Song et al. 2023) or scm "
            "(sCD, Lu & Song 2025)"
        ),
        choice("", "progressive", "consistency", "scm"),
    ),
    "distill.teacher": Setting("", "--mode distill: workdir of the trained teacher"),
    "distill.teacher_ckpt": Setting(-1, "the teacher's snapshot number (-1: its newest checkpoint)", number(-1)),
    "distill.teacher_steps": Setting(64, "progressive: DDIM steps of the teacher in the first round", AT_LEAST_ONE),
    "distill.final_steps": Setting(
        1, ("progressive: steps of the last round's student (rounds halve teacher_steps down to it)"), AT_LEAST_ONE
    ),
    "distill.weighting": Setting(
        "truncated_snr", "progressive: truncated_snr (max(SNR, 1)) or snr_plus_one", choice(*PROGRESSIVE_WEIGHTINGS)
    ),
    "distill.num_points": Setting(18, "consistency: points N of the teacher's ODE grid (fixed schedule)", number(2)),
    "distill.points_schedule": Setting(
        "fixed",
        ("consistency: fixed (N, target_decay) or adaptive (N(k), mu(k) of the paper)"),
        choice("fixed", "adaptive"),
    ),
    "distill.s0": Setting(2, "consistency, adaptive: initial N", number(2)),
    "distill.s1": Setting(150, "consistency, adaptive: final N - 1", AT_LEAST_ONE),
    "distill.target_decay": Setting(
        0.0,
        (
            "consistency: the target network's EMA decay mu: 0 (the online network,"
            " as the CIFAR-10 code's CD), 0.95 (its ImageNet-64 / LSUN CD); "
            "adaptive schedule: mu0 of mu(k)"
        ),
        BELOW_ONE,
    ),
    "distill.rho": Setting(7.0, "consistency: the Karras grid's exponent", POSITIVE),
    "distill.metric": Setting(
        "l2", "consistency: distance between student and target outputs: l2 or l1", choice(*METRICS)
    ),
}
