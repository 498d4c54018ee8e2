"""Objectives: one final class per kind of model, chosen by config.training.objective from
`OBJECTIVES` ("auto": `objective_name`). A new kind of model is one `Objective` subclass
registered with `register` (the mixins `InDataSpace`, `GradientOfLoss` and `PlainOptimizer`
give the common answers); the runner asks it everything that differs between kinds.

  denoising         the weighted denoising loss on a fixed process (`Denoising`)
  learned_schedule  VDM's bound with a learned schedule (`LearnedScheduleBound`)
  autoencoder       a latent model's autoencoder (`Autoencoding`)
  latent            denoising of an autoencoder's latents (`LatentDenoising`)
  progressive       a progressive-distillation student (`ProgressiveStudent`)
  consistency       a consistency-distillation student (`ConsistencyStudent`)
  consistency_training  iCT, a consistency model trained from scratch (`ConsistencyTraining`)
  mean_flow         MeanFlow's average velocity, one-step generation (`MeanFlow`)
  scm               sCM on TrigFlow's path: sCT from scratch, sCD of a teacher (`ContinuousConsistency`)
"""

from score_sde.objectives.autoencoding import Autoencoding
from score_sde.objectives.base import (
    FIGURES,
    OBJECTIVES,
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    PlainOptimizer,
    init_network,
    loss_gradient,
    register,
    teachers,
)
from score_sde.objectives.consistency_training import ConsistencyTraining
from score_sde.objectives.continuous_consistency import ContinuousConsistency
from score_sde.objectives.denoising import Denoising, loss_settings, network_score
from score_sde.objectives.latent import LatentDenoising
from score_sde.objectives.learned_schedule import LearnedScheduleBound
from score_sde.objectives.mean_flow import MeanFlow
from score_sde.objectives.students import ConsistencyStudent, ProgressiveStudent
from score_sde.sampling.samplers import SAMPLERS, Sampler
from score_sde.settings import Setting, choice_of

# config.sampling.method values that mean "the objective's own sampler"
OWN_SAMPLER = ("auto", "student")


def objective_name(config) -> str:
    """config.training.objective with "auto" resolved as the config implies: an autoencoder
    (config.model.name), a distilled student (config.distill.method), a latent model
    (config.data.latents_of), VDM's learned schedule (config.training.sde="learned_vp"), else denoising."""
    name = str(config.training.objective)
    if name != "auto":
        return name
    if config.model.name == "autoencoder":
        return "autoencoder"
    if config.distill.method:
        return str(config.distill.method)
    if config.data.latents_of:
        return "latent"
    return "learned_schedule" if config.training.sde == "learned_vp" else "denoising"


def objective_class(config) -> type[Objective]:
    """The class of the run's objective (`objective_name`), an unknown name refused in one line."""
    return OBJECTIVES.get(objective_name(config), "config.training.objective")


def get_sampler(sampling, objective: Objective) -> Sampler:
    """The sampler of config.sampling: method "auto" (or "student") is the objective's own, any other
    a `SAMPLERS` entry built from config.sampling's fields; refused if the objective's model cannot
    be sampled with it."""
    method = str(sampling.method)
    if method in OWN_SAMPLER:
        sampler = objective.sampler(sampling)
    else:
        sampler = SAMPLERS.get(method, "config.sampling.method").from_config(sampling)
    objective.check_sampler(sampler)
    return sampler


__all__ = [
    "FIGURES",
    "OBJECTIVES",
    "OWN_SAMPLER",
    "Autoencoding",
    "ConsistencyStudent",
    "ConsistencyTraining",
    "ContinuousConsistency",
    "Denoising",
    "GradientOfLoss",
    "InDataSpace",
    "PlainOptimizer",
    "LatentDenoising",
    "LearnedScheduleBound",
    "MeanFlow",
    "Objective",
    "Parts",
    "ProgressiveStudent",
    "get_sampler",
    "init_network",
    "loss_gradient",
    "loss_settings",
    "network_score",
    "objective_class",
    "objective_name",
    "register",
    "teachers",
]


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.objective": Setting(
        "auto",
        (
            "the kind of model (score_sde.objectives.OBJECTIVES): denoising, "
            "learned_schedule, autoencoder, latent, progressive, consistency, "
            "consistency_training (iCT), mean_flow (MeanFlow), scm (sCT; sCD with "
            "distill.method), or "
            "auto: as the config implies (model.name, distill.method, "
            "data.latents_of, sde)"
        ),
        choice_of(OBJECTIVES, "auto"),
    ),
    "sampling.method": Setting(
        "auto",
        (
            "a sampler of score_sde.sampling.SAMPLERS: pc, ode, sde, ddim, heun "
            "(EDM), dpm_solver (DPM-Solver++), few_step (a progressive student's), "
            "consistency (a consistency student's or an iCT model's), mean_flow (a "
            'MeanFlow model\'s); or auto (also "student"): the'
            " objective's own (a student's, ode for a reflowed flow, else pc)"
        ),
        choice_of(SAMPLERS, *OWN_SAMPLER),
    ),
}
