"""Straightness of a model's probability-flow paths (Liu et al. 2023, rectified flow).

S = int_eps^T E |(x_eps - x_T) / (eps - T) - v(x_t, t)|^2 dt / (T - eps), per dimension: the mean
squared deviation of the ODE's velocity v = dx/dt from the straight line joining the ends of
its own solve. S = 0 exactly when every path is straight, so one Euler step solves it.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import Array, ScoreFn
from score_sde.checks import check_positive_int
from score_sde.ode_solvers import batch_time
from score_sde.sde import SDE


@eqx.filter_jit
def _straightness(process, score_fn, z, num_steps, eps):
    flow = process.reverse(score_fn, probability_flow=True)
    times = jnp.linspace(process.T, eps, num_steps + 1)

    def euler(x, interval):
        t, t_next = interval
        velocity = flow.sde(x, batch_time(t, x))[0]
        return x + (t_next - t) * velocity, velocity

    x_end, velocities = jax.lax.scan(euler, z, (times[:-1], times[1:]))
    chord = (x_end - z) / (eps - process.T)
    deviation = jnp.mean(jnp.reshape((velocities - chord) ** 2, (num_steps, z.shape[0], -1)), axis=(0, 2))
    return deviation, x_end


def straightness(
    process: SDE, score_fn: ScoreFn, z: Array, *, num_steps: int = 100, eps: float | None = None
) -> tuple[Array, Array]:
    """Straightness (B,) of the paths from x_T = z (B, *event) to eps, by an Euler solve of
    `num_steps` steps, and the path ends x_eps (B, *event)."""
    check_positive_int(num_steps, "num_steps")
    eps = process.eps if eps is None else float(eps)
    return _straightness(process, score_fn, z, int(num_steps), eps)
