"""Time grids for the fixed-step samplers: num_steps + 1 times from T down to eps, defined for
every process through its log-SNR lambda(t) = log(a^2 / s^2) and the inverse of it."""

import jax.numpy as jnp

SCHEDULES = ("time_uniform", "log_snr_uniform", "karras")


def check_schedule(schedule: str, setting: str = "schedule") -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown {setting}={schedule!r}: choose from {SCHEDULES}")


def resolve_schedule(process, schedule: str | None) -> str:
    """`schedule`, None meaning the process's `default_schedule`, checked."""
    schedule = process.default_schedule if schedule is None else schedule
    check_schedule(schedule)
    return schedule


def get_timesteps(process, num_steps: int, eps: float, schedule: str = "time_uniform", rho: float = 7.0):
    """Times t_0 = T > t_1 > ... > t_num_steps = eps, shape (num_steps + 1,), for a process `process`.

    time_uniform: equal steps in t. log_snr_uniform: equal steps in lambda (the DPM-Solver
    choice). karras: the EDM grid sigma_i = (s_max^(1/rho) + i/n (s_min^(1/rho) - s_max^(1/rho)))^rho
    in sigma~ = s / a = exp(-lambda / 2), with rho = 7 by default.
    """
    check_schedule(schedule)
    fractions = jnp.linspace(0.0, 1.0, num_steps + 1)
    lam_T, lam_eps = process.log_snr(jnp.array([process.T, eps]))
    if schedule == "time_uniform":
        times = process.T + fractions * (eps - process.T)
    elif schedule == "log_snr_uniform":
        times = process.inverse_log_snr(lam_T + fractions * (lam_eps - lam_T))
    else:
        inv_max, inv_min = jnp.exp(-lam_T / (2 * rho)), jnp.exp(-lam_eps / (2 * rho))  # sigma~^(1/rho)
        times = process.inverse_log_snr(-2 * rho * jnp.log(inv_max + fractions * (inv_min - inv_max)))
    return times.at[0].set(process.T).at[-1].set(eps)  # exact end points despite round-off
