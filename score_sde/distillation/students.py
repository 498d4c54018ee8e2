"""A distilled student's parameters and optimizer (config.distill; `--mode distill`).

A student's parameters are one pytree {"student", "teacher"} (consistency distillation adds
"target", the EMA target network f_theta-), so the frozen teacher and the target travel with the
training state: sharded like it, checkpointed with it, and passed to the jitted step as arguments
rather than baked into the program. Only the student is optimised (`student_optimizer`); the
teacher never changes and the target follows the student by its EMA after every step.
"""

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from score_sde._types import Array, DenoiserFn
from score_sde.distillation.consistency import num_points_schedule, target_ema_decay
from score_sde.parameterization import Parameterization
from score_sde.sde import SDE


def student_params(student, teacher, with_target: bool) -> dict:
    """The parameter pytree of a student: its network, the teacher's (and with `with_target` the
    consistency target's, a copy of the student's)."""
    params = {"student": student, "teacher": teacher}
    return {**params, "target": jax.tree.map(jnp.copy, student)} if with_target else params


@dataclasses.dataclass(frozen=True)
class ConsistencySchedule:
    """Consistency distillation's points N and target decay mu over training: fixed (num_points,
    target_decay) or the paper's adaptive N(k) from s0 to s1 + 1 and mu(k) = exp(s0 log mu0 / (N(k) - 1))
    with mu0 = target_decay, over total_steps."""

    adaptive: bool = False
    num_points: int = 18
    target_decay: float = 0.0
    s0: int = 2
    s1: int = 150
    total_steps: int = 1

    def points(self, step) -> Array | int:
        if not self.adaptive:
            return self.num_points
        return num_points_schedule(step, self.total_steps, self.s0, self.s1)

    def decay(self, step) -> Array:
        if not self.adaptive:
            return jnp.asarray(self.target_decay, jnp.float32)
        return target_ema_decay(step, self.total_steps, self.s0, self.s1, self.target_decay)


class StudentOptState(NamedTuple):
    inner: optax.OptState
    # optimizer updates so far; the name shadows tuple.count, kept so that student checkpoints on disk restore
    count: jax.Array  # type: ignore[assignment]


def student_optimizer(
    inner: optax.GradientTransformation, target_decay: Callable[[Array], Array] | None = None
) -> optax.GradientTransformation:
    """`inner` on params["student"]; zero updates for the teacher; with `target_decay` (mu of the step)
    the target moves to mu target + (1 - mu) student' with the student after this step's update."""

    def init(params):
        return StudentOptState(inner.init(params["student"]), jnp.zeros((), jnp.int32))

    def update(grads, state, params):
        student_updates, inner_state = inner.update(grads["student"], state.inner, params["student"])
        updates = {"student": student_updates, "teacher": jax.tree.map(jnp.zeros_like, params["teacher"])}
        if target_decay is not None:
            mu = target_decay(state.count)
            student = optax.apply_updates(params["student"], student_updates)
            updates["target"] = jax.tree.map(lambda t, s: (mu - 1.0) * t + (1.0 - mu) * s, params["target"], student)
        return updates, StudentOptState(inner_state, state.count + 1)

    return optax.GradientTransformation(init, update)


def network_denoiser(
    net_apply, params, process: SDE, parameterization: Parameterization, dropout_rng=None, labels=None
) -> DenoiserFn:
    """x, t -> the output of network `params` through `parameterization` (x0-estimate or consistency f);
    dropout on with a `dropout_rng`."""

    def denoise(x, t):
        x_in, c_noise = parameterization.network_inputs(process, x, t)
        output = net_apply(params, x_in, c_noise, dropout_rng, labels)
        return parameterization.denoise(process, x, t, output)

    return denoise
