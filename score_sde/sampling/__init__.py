"""Samplers: predictor-corrector, reverse-time SDE and probability-flow ODE, the few-step
samplers, inpainting, colorization and latent interpolation, all on device.

Each takes a plain score_fn(x, t) and returns (samples, nfe).
"""

from score_sde.odeint import ODE_SOLVERS
from score_sde.sampling.fast import sample_ddim, sample_dpm_solver, sample_heun
from score_sde.sampling.inpaint import sample_colorize, sample_inpaint
from score_sde.sampling.interpolation import interpolate, slerp
from score_sde.sampling.ode import decode, encode, sample_ode
from score_sde.sampling.pc import CORRECTORS, PREDICTORS, sample_pc
from score_sde.sampling.schedules import SCHEDULES
from score_sde.sampling.sde_solve import SDE_SOLVERS, sample_sde

__all__ = ["get_sampler", "sample_ddim", "sample_heun", "sample_dpm_solver", "sample_pc", "sample_ode", "sample_sde", "encode", "decode", "sample_inpaint", "pc_settings", "ode_settings",
           "sample_colorize", "interpolate", "slerp", "PREDICTORS", "CORRECTORS", "SDE_SOLVERS"]


SAMPLING_METHODS = ("pc", "ode", "sde", "ddim", "heun", "dpm_solver")


def pc_settings(sampling) -> dict:
    """The predictor-corrector keyword arguments of `config.sampling`, names checked
    (for sample_pc, sample_inpaint and sample_colorize)."""
    PREDICTORS.get(sampling.predictor, "config.sampling.predictor")
    CORRECTORS.get(sampling.corrector, "config.sampling.corrector")
    return dict(predictor=sampling.predictor, corrector=sampling.corrector, snr=float(sampling.snr),
                n_steps_each=int(sampling.n_steps_each), num_steps=int(sampling.get("num_steps", 0)) or None,
                eps=float(sampling.get("eps", 1e-3)), denoise=bool(sampling.get("noise_removal", True)))


def ode_settings(sampling) -> dict:
    """The probability-flow ODE keyword arguments of `config.sampling`, solver checked
    (for sample_ode, encode, decode and interpolate)."""
    solver = sampling.get("ode_solver", "tsit5")
    ODE_SOLVERS.get(solver, "config.sampling.ode_solver")
    return dict(solver=solver, rtol=float(sampling.get("rtol", 1e-5)), atol=float(sampling.get("atol", 1e-5)),
                eps=float(sampling.get("eps", 1e-3)), num_steps=int(sampling.get("ode_num_steps", 0)) or None)


def get_sampler(config, sde):
    """sample(rng, score_fn, shape) -> (x, nfe) for the sampler described by `config.sampling`.

    config.sampling.method:
      "pc": predictor, corrector, snr, n_steps_each, num_steps (0: the SDE's N);
      "ode": ode_solver, rtol, atol, ode_num_steps (0: adaptive);
      "sde": sde_solver, num_steps (0: the SDE's N);
      "ddim": num_steps, eta, schedule; "heun" (EDM): num_steps, schedule, S_churn;
      "dpm_solver" (DPM-Solver++): num_steps, order, schedule.
    All read eps (smallest time) and noise_removal (the final denoising step).
    Names are checked here, before anything is traced.
    """
    sampling = config.sampling
    num_steps = int(sampling.get("num_steps", 0)) or None
    eps = float(sampling.get("eps", 1e-3))
    denoise = bool(sampling.get("noise_removal", True))
    method = str(sampling.method).lower()
    if method not in SAMPLING_METHODS:
        raise ValueError(f"config.sampling.method={sampling.method!r}: choose from {SAMPLING_METHODS}")
    if method == "pc":
        if sampling.get("probability_flow", False):
            raise ValueError("config.sampling.probability_flow=True: use config.sampling.method='ode' to sample the "
                             "probability-flow ODE")
        settings = pc_settings(sampling)
        return lambda rng, score_fn, shape: sample_pc(rng, sde, score_fn, shape, **settings)
    if method == "ode":
        settings = ode_settings(sampling)
        return lambda rng, score_fn, shape: sample_ode(rng, sde, score_fn, shape, denoise=denoise, **settings)
    if method == "sde":
        solver = sampling.get("sde_solver", "euler_maruyama")
        SDE_SOLVERS.get(solver, "config.sampling.sde_solver")
        return lambda rng, score_fn, shape: sample_sde(
            rng, sde, score_fn, shape, solver=solver, num_steps=num_steps or sde.N, eps=eps, denoise=denoise)
    schedule = sampling.get("schedule", None)
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"config.sampling.schedule={schedule!r}: choose from {SCHEDULES}")
    extra = {"schedule": schedule} if schedule else {}
    if method == "ddim":
        return lambda rng, score_fn, shape: sample_ddim(
            rng, sde, score_fn, shape, num_steps=num_steps or 50, eta=float(sampling.get("eta", 0.0)), eps=eps,
            denoise=denoise, **extra)
    if method == "heun":
        return lambda rng, score_fn, shape: sample_heun(
            rng, sde, score_fn, shape, num_steps=num_steps or 18, S_churn=float(sampling.get("S_churn", 0.0)),
            eps=eps, denoise=denoise, **extra)
    return lambda rng, score_fn, shape: sample_dpm_solver(
        rng, sde, score_fn, shape, num_steps=num_steps or 20, order=int(sampling.get("order", 2)), eps=eps,
        denoise=denoise, **extra)
