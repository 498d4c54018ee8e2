"""Samplers, all on device, for every process: predictor-corrector, reverse-time SDE and
probability-flow ODE, the few-step samplers (DDIM, EDM's Heun, DPM-Solver++), inpainting,
colorization and latent interpolation.

Each takes a score_fn(x, t) (a network with its parameterisation, the oracle, or any function)
and returns (samples, nfe), nfe an int32 scalar array counting evaluations on the whole batch.
Every sampler ends with the denoising step by default (`denoise=True`). The same samplers as
configured objects (`PredictorCorrector`, `ProbabilityFlowODE`, ...; `SAMPLERS` by name) are in
`score_sde.sampling.samplers`.
"""

from score_sde.sampling.ddim import sample_ddim
from score_sde.sampling.dpm_solver import sample_dpm_solver
from score_sde.sampling.heun import sample_heun
from score_sde.sampling.inpaint import sample_colorize, sample_inpaint
from score_sde.sampling.interpolation import interpolate, slerp
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, sample_pc
from score_sde.sampling.probability_flow import decode, encode, sample_ode
from score_sde.sampling.reverse_sde import SDE_SOLVERS, sample_sde
from score_sde.sampling.samplers import (
    DDIM,
    SAMPLERS,
    DPMSolver,
    Heun,
    PredictorCorrector,
    ProbabilityFlowODE,
    ReverseTimeSDE,
    Sampler,
)

__all__ = [
    "Sampler",
    "SAMPLERS",
    "PredictorCorrector",
    "ProbabilityFlowODE",
    "ReverseTimeSDE",
    "DDIM",
    "Heun",
    "DPMSolver",
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
    "PREDICTORS",
    "CORRECTORS",
    "SDE_SOLVERS",
]
