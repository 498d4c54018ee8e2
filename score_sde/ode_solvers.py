"""On-device ODE solving with diffrax, shared by the samplers and the likelihood.

The whole batch is integrated as one ODE state (as the reference does with scipy): an
adaptive solver picks one step size for the batch from the RMS error over all examples.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp

from score_sde._types import Array, ArrayLike
from score_sde.checks import check_positive_int, error_if_nonfinite
from score_sde.registry import Registry


@dataclasses.dataclass(frozen=True)
class SolverSpec:
    """A diffrax solver with its cost: nfe = initial_evals + evals_per_step * steps taken
    (first-same-as-last solvers pay one initial evaluation), and whether it has an error
    estimate for adaptive stepping."""

    make: Callable[[], diffrax.AbstractSolver]
    evals_per_step: int
    initial_evals: int
    adaptive: bool = False


ODE_SOLVERS: Registry[SolverSpec] = Registry("ODE solver")
ODE_SOLVERS.register("euler")(SolverSpec(diffrax.Euler, 1, 0, adaptive=False))
ODE_SOLVERS.register("heun")(SolverSpec(diffrax.Heun, 2, 0, adaptive=True))
ODE_SOLVERS.register("midpoint")(SolverSpec(diffrax.Midpoint, 2, 0, adaptive=True))
ODE_SOLVERS.register("bosh3")(SolverSpec(diffrax.Bosh3, 3, 1, adaptive=True))
ODE_SOLVERS.register("tsit5")(SolverSpec(diffrax.Tsit5, 6, 1, adaptive=True))
ODE_SOLVERS.register("dopri5")(SolverSpec(diffrax.Dopri5, 6, 1, adaptive=True))
ODE_SOLVERS.register("dopri8")(SolverSpec(diffrax.Dopri8, 13, 1, adaptive=True))


def get_ode_solver(name: str, num_steps: int | None) -> SolverSpec:
    """Looks up `name`, checking that a solver without error estimate gets `num_steps`."""
    solver = ODE_SOLVERS.get(name, "solver")
    if num_steps is None and not solver.adaptive:
        raise ValueError(f"solver={name!r} has no error estimate: give num_steps for a fixed-step solve")
    if num_steps is not None:
        check_positive_int(num_steps, "num_steps")
    return solver


@dataclasses.dataclass(frozen=True)
class ODESettings:
    """How `odeint` integrates: an adaptive `solver` with a PID controller of tolerances rtol/atol when
    `num_steps` is None, else num_steps fixed steps; at most `max_steps` steps."""

    solver: str = "tsit5"
    rtol: float = 1e-5
    atol: float = 1e-5
    num_steps: int | None = None
    max_steps: int = 4096


def odeint(
    vector_field: Callable[[Any, Any], Any],
    y0,
    t0: float,
    t1: float,
    settings: ODESettings = ODESettings(),
    step_times: Array | None = None,
) -> tuple[Any, Array]:
    """Integrates dy/dt = vector_field(t, y) from t0 to t1 (either direction) on device.

    Adaptive (PID controller with rtol/atol) when `settings.num_steps` is None, otherwise
    `num_steps` steps: equal ones, or those between the `step_times` (num_steps + 1 times from t0
    to t1). Reaching `max_steps` raises an error at run time rather than returning an unconverged
    state; a solve that ends on non-finite values raises too.

    Returns:
      y(t1) (same pytree structure as y0) and the number of vector-field evaluations.
    """
    num_steps, max_steps = settings.num_steps, settings.max_steps
    spec = get_ode_solver(settings.solver, num_steps)
    controller: diffrax.AbstractStepSizeController
    if num_steps is None:
        controller, dt0 = diffrax.PIDController(rtol=settings.rtol, atol=settings.atol), None
    elif step_times is not None:
        controller, dt0, max_steps = diffrax.StepTo(step_times), None, num_steps
    else:
        controller, dt0 = diffrax.ConstantStepSize(), (t1 - t0) / num_steps
        max_steps = num_steps
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: vector_field(t, y)),
        spec.make(),
        t0=t0,
        t1=t1,
        dt0=dt0,
        y0=y0,
        stepsize_controller=controller,
        saveat=diffrax.SaveAt(t1=True),
        max_steps=max_steps,
    )
    y1 = jax.tree.map(lambda leaf: error_if_nonfinite(leaf[0], f"the {settings.solver} ODE solve"), solution.ys)
    nfe = spec.initial_evals + spec.evals_per_step * solution.stats["num_steps"]
    return y1, nfe


def batch_time(t: ArrayLike, x: Array) -> Array:
    """The scalar solver time t as a per-example vector (B,) for x (B, ...)."""
    return jnp.full((x.shape[0],), t, dtype=x.dtype)
