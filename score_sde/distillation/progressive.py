"""Progressive distillation (Salimans & Ho, ICLR 2022) on any Gaussian path x_t = a(t) x_0 + s(t) z.

An N-step sampler evaluates its denoiser D(x, t) ~ E[x_0 | x_t = x] at the times t_0 = T > t_1 >
... > t_{N-1} of the time-uniform grid of N steps (`few_step_times`; a grid of 2N steps holds the
grid of N) and moves x by deterministic DDIM steps x' = a' D + s' (x - a D) / s; the last step
goes to clean data (a' = 1, s' = 0), so the sample is the last D and costs exactly N evaluations.
A student learns to take in one step what its teacher takes in two: for x_t = a x_0 + s z at a
student time t_i, the teacher's two DDIM steps t_i -> t_{2i+1} -> t_{i+1} give x'', and the
student's D(x_t, t) is regressed on the x_0 that makes its one DDIM step land on x'',
  x~ = (x'' - (s''/s) x_t) / (a'' - (s''/s) a),
with the paper's truncated-SNR weight max(SNR, 1) (SNR = a^2 / s^2) on the squared error in x_0.
"""

import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array, DenoiserFn
from score_sde.checks import check_positive_int
from score_sde.sde import SDE, batch_broadcast, get_timesteps, posterior_step

PROGRESSIVE_WEIGHTINGS = ("truncated_snr", "snr_plus_one")  # config.distill.weighting


def few_step_times(process: SDE, num_steps: int, eps: float) -> tuple[Array, Array, Array]:
    """(times (N,), next_a (N,), next_s (N,)) of an N-step sampler: the times its denoiser is
    evaluated at, T first, and the coefficients (a, s) of the time each step lands on (the next
    time; clean data, a = 1 and s = 0, for the last step)."""
    check_positive_int(num_steps, "num_steps")
    grid = get_timesteps(process, num_steps, eps, "time_uniform")
    times = grid[:-1]
    next_a, next_s = process.marginal_coefficients(grid[1:])
    return times, next_a.at[-1].set(1.0), next_s.at[-1].set(0.0)


def _ddim_step(x: Array, x0: Array, a: Array, s: Array, next_a: Array, next_s: Array) -> Array:
    """x' = next_a x0 + next_s (x - a x0) / s, coefficients broadcasting against x."""
    return posterior_step(x, x0, a, s, next_a, next_s, 0.0, jnp.zeros_like(x))[0]


def sample_few_step(
    rng: Array, process: SDE, denoise: DenoiserFn, shape: tuple[int, ...], num_steps: int, eps: float
) -> tuple[Array, NFE]:
    """N deterministic DDIM steps from x_T ~ the prior (drawn from `rng`), ending on the last
    denoised estimate: the sampler of a progressive-distillation student and of its teacher.
    Returns samples (B, *event) and nfe = N."""
    times, next_a, next_s = few_step_times(process, num_steps, eps)
    a, s = process.marginal_coefficients(times)

    def step(x, inputs):
        t, a_t, s_t, a_next, s_next = inputs
        x0 = denoise(x, jnp.full((x.shape[0],), t))
        return _ddim_step(x, x0, a_t, s_t, a_next, s_next), None

    x, _ = jax.lax.scan(step, process.prior_sampling(rng, shape), (times, a, s, next_a, next_s))
    return x, jnp.asarray(num_steps, jnp.int32)


def distillation_target(x_t: Array, x_t2: Array, a_t, s_t, a_t2, s_t2) -> Array:
    """The x_0 whose one DDIM step from (x_t; a_t, s_t) lands on x_t2 at (a_t2, s_t2): the
    student's regression target (x_t2 itself when the step ends on clean data, s_t2 = 0)."""
    ratio = s_t2 / s_t
    return (x_t2 - ratio * x_t) / (a_t2 - ratio * a_t)


def progressive_distillation_loss(
    rng: Array,
    process: SDE,
    student_denoise: DenoiserFn,
    teacher_denoise: DenoiserFn,
    x0: Array,
    num_student_steps: int,
    eps: float,
    weighting: str = "truncated_snr",
) -> Array:
    """The mean over the batch of weight(t) |D_student(x_t, t) - x~|^2 (mean over dimensions) at a
    uniformly drawn step of the N-step student grid, x~ the target of two teacher DDIM steps on
    the 2N-step grid (the teacher is not differentiated). weighting: "truncated_snr" max(SNR, 1)
    (the paper's) or "snr_plus_one" (what an unweighted v-prediction loss is)."""
    if weighting not in PROGRESSIVE_WEIGHTINGS:
        raise ValueError(f"unknown weighting={weighting!r}: choose from {PROGRESSIVE_WEIGHTINGS}")
    check_positive_int(num_student_steps, "num_student_steps")
    step_rng, noise_rng = jax.random.split(rng)
    batch = x0.shape[0]
    times, next_a, next_s = few_step_times(process, 2 * num_student_steps, eps)
    index = 2 * jax.random.randint(step_rng, (batch,), 0, num_student_steps)
    t, t_mid = times[index], times[index + 1]
    coefficients = lambda values: batch_broadcast(values, x0)
    a_values, s_values = process.marginal_coefficients(t)
    a, s = coefficients(a_values), coefficients(s_values)
    a_mid, s_mid = (coefficients(v) for v in process.marginal_coefficients(t_mid))
    a_end, s_end = coefficients(next_a[index + 1]), coefficients(next_s[index + 1])
    x_t = a * x0 + s * jax.random.normal(noise_rng, x0.shape, x0.dtype)

    x_mid = _ddim_step(x_t, teacher_denoise(x_t, t), a, s, a_mid, s_mid)
    x_end = _ddim_step(x_mid, teacher_denoise(x_mid, t_mid), a_mid, s_mid, a_end, s_end)
    target = jax.lax.stop_gradient(distillation_target(x_t, x_end, a, s, a_end, s_end))

    snr = (a_values / s_values) ** 2
    weight = jnp.maximum(snr, 1.0) if weighting == "truncated_snr" else snr + 1.0
    error = jnp.mean(jnp.reshape((student_denoise(x_t, t) - target) ** 2, (batch, -1)), axis=-1)
    return jnp.mean(weight * error)


def halving_rounds(teacher_steps: int, final_steps: int = 1) -> list[int]:
    """The student steps of the rounds teacher_steps -> teacher_steps / 2 -> ... -> final_steps."""
    check_positive_int(teacher_steps, "teacher_steps")
    check_positive_int(final_steps, "final_steps")
    ratio = teacher_steps // final_steps
    if teacher_steps % final_steps or ratio < 2 or ratio & (ratio - 1):
        raise ValueError(
            f"teacher_steps={teacher_steps} must be final_steps={final_steps} times a power of two (at least 2)"
        )
    rounds, steps = [], teacher_steps
    while steps > final_steps:
        steps //= 2
        rounds.append(steps)
    return rounds
