"""Few-step generators: improved consistency training (`consistency_training`, iCT), MeanFlow
(`mean_flow`) and continuous-time consistency models on TrigFlow's path (`continuous_consistency`,
sCT from scratch and sCD of a teacher). Each is a loss and a sampler here, and an objective in
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
from score_sde.few_step.continuous_consistency import (
    ContinuousConsistencySettings,
    TimeWeight,
    consistency_tangent,
    continuous_consistency_loss,
    normalise_tangent,
    trigflow_times,
    trigflow_velocity,
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
    "ContinuousConsistencySettings",
    "TimeWeight",
    "consistency_tangent",
    "continuous_consistency_loss",
    "normalise_tangent",
    "trigflow_times",
    "trigflow_velocity",
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
