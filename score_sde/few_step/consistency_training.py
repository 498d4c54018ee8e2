"""Improved consistency training (iCT; Song & Dhariwal, ICLR 2024): a consistency model trained from
scratch, without a teacher or an EMA target.

The model is a consistency function f(x, t) ~ the end x_eps / a(eps) of the probability-flow ODE
through (x, t), with the boundary f(x, eps) = x / a(eps) built in
(`score_sde.distillation.ConsistencyParameterization`). On an N-point Karras grid t_1 = eps < ... <
t_N = T (`consistency_time`, sigma~ = s / a equally spaced in sigma~^(1/rho)), one draw of the
noise z gives two points of the same forward path, x_i = a_i x_0 + s_i z and x_{i+1}, and the
loss pulls f(x_{i+1}, t_{i+1}) towards the stopped-gradient f(x_i, t_i) of the same network,
evaluated with the same dropout draw:
  loss = E lambda_i d(f(x_{i+1}, t_{i+1}), sg f(x_i, t_i)),  lambda_i = 1 / (sigma~_{i+1} - sigma~_i),
  d(x, y) = sqrt(|x - y|^2 + c^2) - c  (pseudo-Huber over a whole example, c = 0.00054 sqrt(dims)).
The interval i is drawn with the log-normal probabilities p_i ~ erf((ln sigma~_{i+1} - P_mean) /
(sqrt 2 P_std)) - erf((ln sigma~_i - P_mean) / (sqrt 2 P_std)), and N doubles during training
(`doubling_num_points`: 11, 21, ..., 1281 in the paper's 400k steps). Samples come from the
consistency sampler (`score_sde.distillation.sample_consistency`).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import Array, DenoiserFn
from score_sde.distillation.consistency import consistency_time
from score_sde.sde import SDE, batch_broadcast

# c = HUBER_SCALE sqrt(dims): the paper's 0.03 for CIFAR-10's 3072 dimensions
HUBER_SCALE = 0.00054


@dataclasses.dataclass(frozen=True)
class ConsistencyTrainingSchedule:
    """The paper's settings: N doubles from s0 + 1 to s1 + 1 points over `total_steps`
    (`doubling_num_points`); intervals drawn log-normally in sigma~ (P_mean, P_std); the grid's
    exponent rho; the pseudo-Huber c (0: 0.00054 sqrt(dims))."""

    total_steps: int
    s0: int = 10
    s1: int = 1280
    P_mean: float = -1.1
    P_std: float = 2.0
    rho: float = 7.0
    huber_c: float = 0.0

    def __post_init__(self):
        if not 1 <= self.s0 <= self.s1:
            raise ValueError(f"the curriculum needs 1 <= s0 <= s1; got s0={self.s0}, s1={self.s1}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be at least 1; got {self.total_steps}")

    @property
    def max_points(self) -> int:
        """The largest N: s1 + 1."""
        return self.s1 + 1

    def num_points(self, step) -> Array:
        """N at training step `step` (may be traced; None: the final N)."""
        if step is None:
            return jnp.asarray(self.max_points, jnp.int32)
        return doubling_num_points(step, self.total_steps, self.s0, self.s1)

    def huber(self, event_shape: tuple[int, ...]) -> float:
        """The pseudo-Huber c of examples of `event_shape`."""
        return self.huber_c or HUBER_SCALE * float(np.sqrt(np.prod(event_shape)))


def doubling_num_points(step, total_steps: int, s0: int = 10, s1: int = 1280) -> Array:
    """The paper's curriculum N(k) = min(s0 2^floor(k / K'), s1) + 1 with K' = floor(K / (log2 floor(s1 /
    s0) + 1)): N doubles (in intervals) every K' steps from s0 + 1 until it reaches s1 + 1 (int32)."""
    stage = max(total_steps // (int(np.log2(s1 // s0)) + 1), 1)
    doublings = jnp.minimum(jnp.asarray(step, jnp.int32) // stage, 30)
    return (jnp.minimum(s0 * jnp.exp2(doublings.astype(jnp.float32)), s1) + 1).astype(jnp.int32)


def grid_sigmas(process: SDE, num_points, max_points: int, eps: float, rho: float) -> tuple[Array, Array]:
    """(times, sigma~) (max_points,) of the N-point Karras grid (`consistency_time`), ascending; the
    entries past N (N may be traced) are meaningless and masked by their users."""
    times = consistency_time(process, jnp.arange(max_points), num_points, eps, rho)
    return times, jnp.exp(-0.5 * process.log_snr(times))


def lognormal_interval_logits(sigmas: Array, num_points, P_mean: float, P_std: float) -> Array:
    """log p_i (max_points - 1,) of the intervals [sigma_i, sigma_{i+1}] of an ascending grid, p_i ~
    erf((ln sigma_{i+1} - P_mean) / (sqrt 2 P_std)) - erf((ln sigma_i - P_mean) / (sqrt 2 P_std)),
    unnormalised; -inf for the intervals past the grid's N points."""
    cdf = jax.scipy.special.erf((jnp.log(sigmas) - P_mean) / (np.sqrt(2.0) * P_std))
    mass = cdf[1:] - cdf[:-1]
    valid = (jnp.arange(sigmas.shape[0] - 1) < jnp.asarray(num_points) - 1) & (mass > 0)
    return jnp.where(valid, jnp.log(jnp.where(valid, mass, 1.0)), -jnp.inf)


def pseudo_huber(difference: Array, c: float) -> Array:
    """sqrt(|d|^2 + c^2) - c (B,) of differences (B, *event), over each whole example."""
    squared = jnp.sum(jnp.reshape(difference, (difference.shape[0], -1)) ** 2, axis=-1)
    return jnp.sqrt(squared + c**2) - c


def consistency_training_loss(
    rng: Array,
    process: SDE,
    consistency_fn: DenoiserFn,
    x0: Array,
    schedule: ConsistencyTrainingSchedule,
    eps: float,
    step=None,
) -> Array:
    """The iCT loss (module docstring) of a batch x0 (B, *event) at training step `step` (None: the
    final N). `consistency_fn(x, t)` is f with its dropout draw fixed, so f(x_{i+1}) and its
    stopped-gradient target f(x_i) see the same dropout."""
    index_rng, noise_rng = jax.random.split(rng)
    num_points = schedule.num_points(step)
    times, sigmas = grid_sigmas(process, num_points, schedule.max_points, eps, schedule.rho)
    logits = lognormal_interval_logits(sigmas, num_points, schedule.P_mean, schedule.P_std)
    index = jax.random.categorical(index_rng, logits, shape=(x0.shape[0],))
    z = jax.random.normal(noise_rng, x0.shape, x0.dtype)

    def on_path(t):
        a, s = process.marginal_coefficients(t)
        return batch_broadcast(a, x0) * x0 + batch_broadcast(s, x0) * z

    t, t_next = times[index], times[index + 1]
    target = jax.lax.stop_gradient(consistency_fn(on_path(t), t))
    distance = pseudo_huber(consistency_fn(on_path(t_next), t_next) - target, schedule.huber(x0.shape[1:]))
    weight = 1.0 / (sigmas[index + 1] - sigmas[index])
    return jnp.mean(weight * distance)
