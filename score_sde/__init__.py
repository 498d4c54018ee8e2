"""score_sde: score-based generative modeling with SDEs in JAX.

The core: a process (`score_sde.sde`) is a Gaussian path x_t = a(t) x_0 + s(t) z with its SDE;
a parameterisation (`score_sde.parameterization`) turns a network into the denoiser and the
score; losses, samplers and the likelihood see only those two.
"""

from score_sde.distillation import (
    ConsistencyParameterization,
    consistency_distillation_loss,
    progressive_distillation_loss,
    sample_consistency,
    sample_few_step,
)
from score_sde.guidance import (
    AutoguidedScore,
    ClassifierFreeGuidedScore,
    ClassifierGuidedScore,
    GuidanceInterval,
    autoguided_score,
    classifier_free_guided_score,
    classifier_guided_score,
)
from score_sde.latent_bound import latent_bits_per_dim, latent_bound
from score_sde.likelihood import bits_per_dim, log_likelihood
from score_sde.losses import LossSettings, ddpm_loss, denoising_loss, dsm_loss, get_loss_fn, smld_loss
from score_sde.oracle import GaussianMixture
from score_sde.parameterization import (
    PARAMETERIZATIONS,
    ConditionalNetworkScore,
    DataPrediction,
    EDMPreconditioning,
    EpsPrediction,
    FlowVelocity,
    NetworkScore,
    Parameterization,
    ReferenceNoise,
    ReferenceScore,
    VPrediction,
    get_parameterization,
)
from score_sde.sampling import (
    decode,
    encode,
    interpolate,
    sample_colorize,
    sample_ddim,
    sample_dpm_solver,
    sample_heun,
    sample_inpaint,
    sample_ode,
    sample_pc,
    sample_sde,
    slerp,
)
from score_sde.sde import (
    SDE,
    SDES,
    VESDE,
    VPSDE,
    CosineVPSDE,
    EDMPath,
    GaussianPath,
    LearnedVPPath,
    LinearFlow,
    ReverseSDE,
    SubVPSDE,
    get_sde,
    get_timesteps,
)
from score_sde.straightness import straightness
from score_sde.variational_bound import BoundObjective, variational_bound

__all__ = [
    # processes
    "SDE",
    "SDES",
    "VPSDE",
    "SubVPSDE",
    "VESDE",
    "CosineVPSDE",
    "LinearFlow",
    "EDMPath",
    "GaussianPath",
    "LearnedVPPath",
    "ReverseSDE",
    "get_sde",
    "get_timesteps",
    # parameterisations
    "Parameterization",
    "PARAMETERIZATIONS",
    "ReferenceNoise",
    "ReferenceScore",
    "EpsPrediction",
    "DataPrediction",
    "VPrediction",
    "FlowVelocity",
    "EDMPreconditioning",
    "ConsistencyParameterization",
    "NetworkScore",
    "ConditionalNetworkScore",
    "get_parameterization",
    # losses
    "LossSettings",
    "denoising_loss",
    "dsm_loss",
    "ddpm_loss",
    "smld_loss",
    "get_loss_fn",
    "BoundObjective",
    "progressive_distillation_loss",
    "consistency_distillation_loss",
    # samplers
    "sample_pc",
    "sample_ode",
    "sample_sde",
    "sample_ddim",
    "sample_heun",
    "sample_dpm_solver",
    "encode",
    "decode",
    "sample_inpaint",
    "sample_colorize",
    "interpolate",
    "slerp",
    "sample_few_step",
    "sample_consistency",
    # guidance
    "classifier_guided_score",
    "classifier_free_guided_score",
    "ClassifierGuidedScore",
    "ClassifierFreeGuidedScore",
    "autoguided_score",
    "AutoguidedScore",
    "GuidanceInterval",
    # likelihood and the oracle
    "log_likelihood",
    "bits_per_dim",
    "variational_bound",
    "latent_bound",
    "latent_bits_per_dim",
    "straightness",
    "GaussianMixture",
]
