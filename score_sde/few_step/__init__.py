"""Few-step generators trained from scratch: improved consistency training (`consistency_training`,
iCT) and MeanFlow (`mean_flow`). Each is a loss and a sampler here, and an objective in
`score_sde.objectives` that the runner trains, evaluates and samples."""

from score_sde.few_step.consistency_training import (
    HUBER_SCALE,
    ConsistencyTrainingSchedule,
    consistency_training_loss,
    doubling_num_points,
    grid_sigmas,
    lognormal_interval_logits,
    pseudo_huber,
)
from score_sde.few_step.mean_flow import (
    MeanFlowSettings,
    MeanFlowVelocity,
    adaptive_loss,
    average_velocity,
    guided_velocity,
    mean_flow_loss,
    mean_flow_target,
    sample_mean_flow,
    time_pairs,
)
from score_sde.few_step.samplers import MeanFlowSampler

__all__ = [
    "HUBER_SCALE",
    "ConsistencyTrainingSchedule",
    "MeanFlowSampler",
    "MeanFlowSettings",
    "MeanFlowVelocity",
    "adaptive_loss",
    "average_velocity",
    "consistency_training_loss",
    "doubling_num_points",
    "grid_sigmas",
    "guided_velocity",
    "lognormal_interval_logits",
    "mean_flow_loss",
    "mean_flow_target",
    "pseudo_huber",
    "sample_mean_flow",
    "time_pairs",
]
