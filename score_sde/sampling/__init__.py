"""Samplers: predictor-corrector, reverse-time SDE and probability-flow ODE, all on device.

Each takes a plain score_fn(x, t) and returns (samples, nfe).
"""

from score_sde.odeint import ODE_SOLVERS
from score_sde.sampling.fast import sample_ddim, sample_dpm_solver, sample_heun
from score_sde.sampling.ode import decode, encode, sample_ode
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, sample_pc
from score_sde.sampling.sde_solve import SDE_SOLVERS, sample_sde

__all__ = ["get_sampler", "sample_ddim", "sample_heun", "sample_dpm_solver", "sample_pc", "sample_ode", "sample_sde", "encode", "decode", "PREDICTORS", "CORRECTORS", "SDE_SOLVERS"]


def get_sampler(config, sde):
    """sample(rng, score_fn, shape) -> (x, nfe) for the sampler described by `config.sampling`.

    config.sampling.method:
      "pc": predictor, corrector, snr, n_steps_each, num_steps (0: the SDE's N);
      "ode": ode_solver, rtol, atol, ode_num_steps (0: adaptive);
      "sde": sde_solver, num_steps (0: the SDE's N).
    All read eps (smallest time) and noise_removal (the final denoising step).
    Names are checked here, before anything is traced.
    """
    sampling = config.sampling
    num_steps = int(sampling.get("num_steps", 0)) or None
    eps = float(sampling.get("eps", 1e-3))
    denoise = bool(sampling.get("noise_removal", True))
    method = sampling.method.lower()
    if method == "pc":
        PREDICTORS.get(sampling.predictor, "config.sampling.predictor")
        CORRECTORS.get(sampling.corrector, "config.sampling.corrector")
        return lambda rng, score_fn, shape: sample_pc(
            rng, sde, score_fn, shape, predictor=sampling.predictor, corrector=sampling.corrector,
            snr=float(sampling.snr), n_steps_each=int(sampling.n_steps_each), num_steps=num_steps,
            eps=eps, denoise=denoise)
    if method == "ode":
        solver, ode_steps = sampling.get("ode_solver", "tsit5"), int(sampling.get("ode_num_steps", 0)) or None
        ODE_SOLVERS.get(solver, "config.sampling.ode_solver")
        return lambda rng, score_fn, shape: sample_ode(
            rng, sde, score_fn, shape, solver=solver, rtol=float(sampling.get("rtol", 1e-5)),
            atol=float(sampling.get("atol", 1e-5)), eps=eps, denoise=denoise, num_steps=ode_steps)
    if method == "sde":
        solver = sampling.get("sde_solver", "euler_maruyama")
        SDE_SOLVERS.get(solver, "config.sampling.sde_solver")
        return lambda rng, score_fn, shape: sample_sde(
            rng, sde, score_fn, shape, solver=solver, num_steps=num_steps or sde.N, eps=eps, denoise=denoise)
    raise ValueError(f"config.sampling.method={sampling.method!r}: choose from ('ode', 'pc', 'sde')")
