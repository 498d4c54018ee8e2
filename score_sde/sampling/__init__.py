"""Samplers, all on device, for every process: predictor-corrector, reverse-time SDE and
probability-flow ODE, the few-step samplers (DDIM, EDM's Heun, DPM-Solver++), inpainting,
colorization and latent interpolation.

Each takes a score_fn(x, t) (a network with its parameterisation, the oracle, or any function)
and returns (samples, nfe), nfe an int32 scalar array counting evaluations on the whole batch.
Every sampler ends with the denoising step by default (`denoise=True`). Each is a configured
object (`PredictorCorrector`, `ProbabilityFlowODE`, `ReverseTimeSDE`, `DDIM`, `Heun`,
`DPMSolver`; `SAMPLERS` by name, `score_sde.sampling.samplers`) that the plain functions build
from their keywords; `inpaint`, `colorize` and `interpolate_path` take the object they run.
"""

from score_sde.sampling.ddim import DDIM, sample_ddim
from score_sde.sampling.dpm_solver import DPMSolver, sample_dpm_solver
from score_sde.sampling.heun import Heun, sample_heun
from score_sde.sampling.inpaint import colorize, inpaint, sample_colorize, sample_inpaint
from score_sde.sampling.interpolation import interpolate, interpolate_path, slerp
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, PredictorCorrector, sample_pc
from score_sde.sampling.probability_flow import ProbabilityFlowODE, decode, encode, sample_ode
from score_sde.sampling.reverse_sde import SDE_SOLVERS, ReverseTimeSDE, sample_sde
from score_sde.sampling.samplers import SAMPLERS, Sampler

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
    "inpaint",
    "colorize",
    "interpolate_path",
    "sample_colorize",
    "interpolate",
    "slerp",
    "PREDICTORS",
    "CORRECTORS",
    "SDE_SOLVERS",
]
