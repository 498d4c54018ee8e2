"""Samplers: predictor-corrector, reverse-time SDE and probability-flow ODE, all on device.

Each takes a plain score_fn(x, t) and returns (samples, nfe).
"""

from score_sde.sampling.ode import decode, encode, sample_ode
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, sample_pc
from score_sde.sampling.sde_solve import SDE_SOLVERS, sample_sde

__all__ = ["sample_pc", "sample_ode", "sample_sde", "encode", "decode", "PREDICTORS", "CORRECTORS", "SDE_SOLVERS"]
