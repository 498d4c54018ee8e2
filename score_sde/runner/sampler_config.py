"""The sampler described by `config.sampling`, its names checked before anything is traced."""

from score_sde.conversions import denoiser_of
from score_sde.distillation import sample_consistency, sample_few_step
from score_sde.ode_solvers import ODE_SOLVERS
from score_sde.sampling import (
    CORRECTORS,
    PREDICTORS,
    SDE_SOLVERS,
    sample_ddim,
    sample_dpm_solver,
    sample_heun,
    sample_ode,
    sample_pc,
    sample_sde,
)
from score_sde.sde import SCHEDULES, SDE, get_timesteps

SAMPLING_METHODS = ("auto", "pc", "ode", "sde", "ddim", "heun", "dpm_solver", "student")
# What a reflowed flow can be sampled with: samplers that integrate its probability flow alone.
FLOW_SAMPLERS_HELP = "'ode' (the default with 'auto'), 'dpm_solver', 'ddim' with eta=0 or 'heun' with S_churn=0"


def sampling_method(config) -> str:
    """config.sampling.method with "auto" resolved to the model's own sampler: a distilled student's
    ("student"), the probability-flow ODE for a reflowed flow (config.reflow.teacher), else the
    reference's predictor-corrector ("pc")."""
    method = str(config.sampling.method)
    if method != "auto":
        return method
    if config.distill.method:
        return "student"
    return "ode" if config.reflow.teacher else "pc"


def marginal_score_use(sampling, method: str) -> str:
    """The part of sampler `method` that follows the score of the Gaussian path's marginals (the reverse
    SDE, Langevin correctors, injected noise), "" for samplers that integrate the probability flow alone."""
    if method == "sde":
        return "the reverse SDE"
    if method == "pc" and not sampling.probability_flow:
        return "the reverse-SDE predictor"
    if method == "pc" and sampling.corrector != "none":
        return f"the {sampling.corrector} corrector"
    if method == "ddim" and float(sampling.eta) > 0.0:
        return "DDIM's noise (eta > 0)"
    if method == "heun" and float(sampling.S_churn) > 0.0:
        return "EDM's churn (S_churn > 0)"
    return ""


def check_flow_sampler(config, method: str) -> None:
    """A reflowed flow (config.reflow.teacher) defines a velocity, not the marginal score: its
    rectified coupling is not the independent Gaussian path, so score-based samplers are refused."""
    use = marginal_score_use(config.sampling, method)
    if config.reflow.teacher and use:
        raise ValueError(
            f"config.sampling.method={method!r}: {use} needs the score of the independent Gaussian path, which a "
            f"reflowed flow (config.reflow.teacher={config.reflow.teacher!r}) does not learn (its velocity belongs "
            f"to the rectified coupling); sample it with {FLOW_SAMPLERS_HELP}"
        )


def check_sampling_names(sampling) -> None:
    """Every name in config.sampling, whichever method uses it."""
    checks = {
        "method": SAMPLING_METHODS,
        "predictor": PREDICTORS.names(),
        "corrector": CORRECTORS.names(),
        "ode_solver": ODE_SOLVERS.names(),
        "sde_solver": SDE_SOLVERS.names(),
        "schedule": ("auto",) + SCHEDULES,
    }
    for field, allowed in checks.items():
        if sampling[field] not in allowed:
            raise ValueError(f"config.sampling.{field}={sampling[field]!r}: choose from {tuple(allowed)}")


def pc_settings(sampling) -> dict:
    """The predictor-corrector keyword arguments of `config.sampling` (for sample_pc,
    sample_inpaint and sample_colorize)."""
    if sampling.probability_flow and sampling.predictor == "ancestral_sampling":
        raise ValueError(
            "config.sampling.probability_flow=True with predictor='ancestral_sampling': ancestral sampling has no "
            "probability-flow form (as in the reference); choose reverse_diffusion, euler_maruyama or none"
        )
    return dict(
        predictor=sampling.predictor,
        probability_flow=bool(sampling.probability_flow),
        corrector=sampling.corrector,
        snr=float(sampling.snr),
        n_steps_each=int(sampling.n_steps_each),
        num_steps=int(sampling.num_steps) or None,
        eps=float(sampling.eps),
        denoise=bool(sampling.noise_removal),
    )


def ode_settings(sampling) -> dict:
    """The probability-flow ODE keyword arguments of `config.sampling` (for sample_ode, encode,
    decode and interpolate)."""
    return dict(
        solver=sampling.ode_solver,
        rtol=float(sampling.rtol),
        atol=float(sampling.atol),
        eps=float(sampling.eps),
        num_steps=int(sampling.ode_num_steps) or None,
    )


def get_sampler(config, sde: SDE):
    """sample(rng, score_fn, shape) -> (x, nfe) for the sampler described by `config.sampling`.

    config.sampling.method ("auto": `sampling_method`):
      "pc": predictor, corrector, snr, n_steps_each, num_steps (0: the process's N);
      "pc" with probability_flow: the predictors on the probability-flow ODE (the reference's option);
      "ode": ode_solver, rtol, atol, ode_num_steps (0: adaptive), ode_denoise_step;
      "sde": sde_solver, num_steps (0: the process's N);
      "ddim": num_steps, eta, schedule; "heun" (EDM): num_steps, schedule, rho, S_churn, S_min,
      S_max, S_noise; "dpm_solver" (DPM-Solver++): num_steps, order, schedule;
      "student": a distilled student (config.distill.method) in num_steps evaluations (0: a progressive
      student's own config.distill.final_steps, a consistency student's 1), `student_sampler`.
    All but "student" read eps (smallest time) and noise_removal (the final denoising step); schedule "auto"
    is the sampler's own default. A reflowed flow refuses the samplers that need the marginal score.
    """
    sampling = config.sampling
    check_sampling_names(sampling)
    method = sampling_method(config)
    check_flow_sampler(config, method)
    num_steps = int(sampling.num_steps) or None
    eps, denoise = float(sampling.eps), bool(sampling.noise_removal)
    schedule = {} if sampling.schedule == "auto" else {"schedule": sampling.schedule}
    if method == "pc":
        settings = pc_settings(sampling)
        return lambda rng, score_fn, shape: sample_pc(rng, sde, score_fn, shape, **settings)
    if method == "ode":
        settings = {**ode_settings(sampling), **schedule, "denoise": denoise, "denoise_step": sampling.ode_denoise_step}
        return lambda rng, score_fn, shape: sample_ode(rng, sde, score_fn, shape, **settings)
    if method == "sde":
        settings = dict(solver=sampling.sde_solver, num_steps=num_steps or sde.N, eps=eps, denoise=denoise, **schedule)
        return lambda rng, score_fn, shape: sample_sde(rng, sde, score_fn, shape, **settings)
    if method == "ddim":
        settings = dict(num_steps=num_steps or 50, eta=float(sampling.eta), eps=eps, denoise=denoise, **schedule)
        return lambda rng, score_fn, shape: sample_ddim(rng, sde, score_fn, shape, **settings)
    if method == "student":
        return student_sampler(config.distill, sde, num_steps, eps)
    if method == "heun":
        if num_steps == 1:
            raise ValueError("config.sampling.num_steps=1: heun needs at least 2 noise levels (0: EDM's 18)")
        settings = dict(
            num_steps=num_steps or 18,
            rho=float(sampling.rho),
            S_churn=float(sampling.S_churn),
            S_min=float(sampling.S_min),
            S_max=float(sampling.S_max),
            S_noise=float(sampling.S_noise),
            eps=eps,
            denoise=denoise,
            **schedule,
        )
        return lambda rng, score_fn, shape: sample_heun(rng, sde, score_fn, shape, **settings)
    settings = dict(num_steps=num_steps or 20, order=int(sampling.order), eps=eps, denoise=denoise, **schedule)
    return lambda rng, score_fn, shape: sample_dpm_solver(rng, sde, score_fn, shape, **settings)


def student_sampler(distill, sde: SDE, num_steps: int | None, eps: float):
    """sample(rng, score_fn, shape) -> (x, nfe) of a distilled student, in num_steps evaluations of its
    denoiser (the student's output): a progressive-distillation student by its deterministic DDIM steps
    on the time-uniform grid it was trained on (`sample_few_step`), a consistency student by
    multistep consistency sampling at the first num_steps times of the Karras grid from T
    (`sample_consistency`; one step: f(x_T, T))."""
    if distill.method == "progressive":
        steps = num_steps or int(distill.final_steps)
        return lambda rng, score_fn, shape: sample_few_step(rng, sde, denoiser_of(sde, score_fn), shape, steps, eps)
    if distill.method == "consistency":
        steps = num_steps or 1
        rho = float(distill.rho)

        def sample(rng, score_fn, shape):
            times = get_timesteps(sde, steps, eps, "karras", rho)[:-1]
            return sample_consistency(rng, sde, denoiser_of(sde, score_fn), shape, times, eps)

        return sample
    raise ValueError(
        "config.sampling.method='student' samples a distilled student: set config.distill.method to 'progressive' "
        "or 'consistency' (the method that trained it)"
    )
