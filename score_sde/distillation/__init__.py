"""Few-step students of a trained score model: progressive distillation (`progressive`) and
consistency distillation (`consistency`), on any Gaussian path."""

from score_sde.distillation.consistency import (
    ConsistencyParameterization,
    consistency_distillation_loss,
    consistency_time,
    heun_teacher_step,
    num_points_schedule,
    sample_consistency,
    target_ema_decay,
)
from score_sde.distillation.progressive import (
    distillation_target,
    few_step_times,
    halving_rounds,
    progressive_distillation_loss,
    sample_few_step,
)
from score_sde.distillation.samplers import Consistency, FewStep
from score_sde.distillation.students import ConsistencySchedule, student_optimizer, student_params

__all__ = [
    "Consistency",
    "ConsistencySchedule",
    "FewStep",
    "student_optimizer",
    "student_params",
    "ConsistencyParameterization",
    "consistency_distillation_loss",
    "consistency_time",
    "distillation_target",
    "few_step_times",
    "halving_rounds",
    "heun_teacher_step",
    "num_points_schedule",
    "progressive_distillation_loss",
    "sample_consistency",
    "sample_few_step",
    "target_ema_decay",
]
