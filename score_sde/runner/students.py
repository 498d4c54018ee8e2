"""A distilled student's training state and objective (config.distill; `--mode distill`).

A student's parameters are one pytree {"student", "teacher"} (consistency distillation adds
"target", the EMA target network f_theta-), so the frozen teacher and the target travel with the
training state: sharded like it, checkpointed with it, and passed to the jitted step as arguments
rather than baked into the program. Only the student is optimised (`student_optimizer`); the
teacher never changes and the target follows the student by its EMA after every step.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from score_sde.distillation import (
    consistency_distillation_loss,
    num_points_schedule,
    progressive_distillation_loss,
    target_ema_decay,
)
from score_sde.models import NetApply
from score_sde.parameterization import Parameterization
from score_sde.sde import SDE


def student_params(method: str, student, teacher) -> dict:
    """The parameter pytree of a `method` student: its network, the teacher's (and the target's,
    a copy of the student's, for consistency distillation)."""
    params = {"student": student, "teacher": teacher}
    return {**params, "target": jax.tree.map(jnp.copy, student)} if method == "consistency" else params


class StudentOptState(NamedTuple):
    inner: optax.OptState
    count: jax.Array


def target_decay_fn(distill, total_steps: int) -> Callable[[jax.Array], jax.Array]:
    """mu(step) of the consistency target's EMA: config.distill.target_decay (fixed schedule) or the
    official codes' mu(k) = exp(s0 log mu0 / (N(k) - 1)) (adaptive, `target_ema_decay`)."""
    if distill.points_schedule == "fixed":
        return lambda step: jnp.asarray(float(distill.target_decay), jnp.float32)
    return lambda step: target_ema_decay(
        step, total_steps, int(distill.s0), int(distill.s1), float(distill.target_decay)
    )


def student_optimizer(inner: optax.GradientTransformation, distill, total_steps: int) -> optax.GradientTransformation:
    """`inner` on params["student"]; zero updates for the teacher; for consistency distillation the
    target moves to mu target + (1 - mu) student' with the student after this step's update."""
    decay = target_decay_fn(distill, total_steps)

    def init(params):
        return StudentOptState(inner.init(params["student"]), jnp.zeros((), jnp.int32))

    def update(grads, state, params):
        student_updates, inner_state = inner.update(grads["student"], state.inner, params["student"])
        updates = {"student": student_updates, "teacher": jax.tree.map(jnp.zeros_like, params["teacher"])}
        if "target" in params:
            mu = decay(state.count)
            student = optax.apply_updates(params["student"], student_updates)
            updates["target"] = jax.tree.map(lambda t, s: (mu - 1.0) * t + (1.0 - mu) * s, params["target"], student)
        return updates, StudentOptState(inner_state, state.count + 1)

    return optax.GradientTransformation(init, update)


def _denoiser(net_apply: NetApply, params, process: SDE, parameterization: Parameterization, dropout_rng, labels):
    """x, t -> the output of network `params` through `parameterization` (x0-estimate or consistency f)."""

    def denoise(x, t):
        x_in, c_noise = parameterization.network_inputs(process, x, t)
        output = net_apply(params, x_in, c_noise, dropout_rng, labels)
        return parameterization.denoise(process, x, t, output)

    return denoise


def progressive_objective(
    process: SDE,
    net_apply: NetApply,
    parameterization: Parameterization,
    teacher_parameterization: Parameterization,
    num_student_steps: int,
    eps: float,
    weighting: str,
):
    """loss(params, rng, x, labels=None): one round of progressive distillation (`progressive_distillation_loss`)
    of the teacher's 2N DDIM steps into N steps of the student (dropout in the student only)."""

    def loss(params, rng, x, labels=None):
        loss_rng, dropout_rng = jax.random.split(rng)
        student = _denoiser(net_apply, params["student"], process, parameterization, dropout_rng, labels)
        teacher = _denoiser(net_apply, params["teacher"], process, teacher_parameterization, None, labels)
        return progressive_distillation_loss(loss_rng, process, student, teacher, x, num_student_steps, eps, weighting)

    return loss


def consistency_objective(
    process: SDE,
    net_apply: NetApply,
    parameterization: Parameterization,
    teacher_parameterization: Parameterization,
    distill,
    total_steps: int,
    eps: float,
):
    """loss(params, rng, x, labels=None, step=...): consistency distillation (`consistency_distillation_loss`)
    of the teacher's probability-flow ODE with N points (config.distill.num_points, or the paper's N(step))."""

    def loss(params, rng, x, labels=None, step=None):
        if distill.points_schedule == "fixed":
            num_points = int(distill.num_points)
        else:
            num_points = num_points_schedule(step, total_steps, int(distill.s0), int(distill.s1))
        loss_rng, dropout_rng = jax.random.split(rng)
        student = _denoiser(net_apply, params["student"], process, parameterization, dropout_rng, labels)
        target = _denoiser(net_apply, params["target"], process, parameterization, None, labels)
        teacher = _denoiser(net_apply, params["teacher"], process, teacher_parameterization, None, labels)
        return consistency_distillation_loss(
            loss_rng, process, student, target, teacher, x, num_points, eps, float(distill.rho), str(distill.metric)
        )

    loss.needs_step = True
    return loss
