"""Reverse-time SDE sampling with diffrax's fixed-step SDE solvers, on device.

The reverse SDE dx = [f - g^2 score] dt + g dw_bar runs from T down to eps. diffrax solves it
forward in s = T - t: dx = -[f(x, T - s) - g^2 score] ds + g(T - s) dW_s. Noise is additive
(g depends on t only), so Ito and Stratonovich solvers converge to the same process.
"""

import dataclasses
from typing import ClassVar, final

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax

from score_sde._types import NFE, Array, ScoreFn
from score_sde.checks import check_positive_int, check_sampler_inputs, error_if_nonfinite
from score_sde.conversions import denoiser_of
from score_sde.ode_solvers import SolverSpec, batch_time
from score_sde.registry import Registry
from score_sde.sampling.samplers import Sampler, config_schedule, config_steps, register
from score_sde.sde import SDE, batch_broadcast, get_timesteps
from score_sde.sde.schedules import resolve_schedule
from score_sde.settings import Setting, choice_of

SDE_SOLVERS: Registry[SolverSpec] = Registry("SDE solver")
SDE_SOLVERS.register("euler_maruyama")(SolverSpec(diffrax.Euler, 1, 0))
SDE_SOLVERS.register("heun")(SolverSpec(diffrax.Heun, 2, 0))
SDE_SOLVERS.register("reversible_heun")(SolverSpec(diffrax.ReversibleHeun, 1, 1))


class PerExampleBrownianPath(diffrax.AbstractPath):
    """Brownian increments on [t0, t1] for a batch, drawn per example on the fixed step grid.

    Example i's increment over [s0, s1] is sqrt(s1 - s0) N(0, I) from a key folded from (key, i)
    and the two times (diffrax's UnsafeBrownianPath, one per example): a sample does not change
    with the batch size. Valid for fixed-step solvers that query whole steps, which is all that
    SDE_SOLVERS holds; about 5x cheaper than a virtual Brownian tree per example.
    """

    t0: float  # type: ignore[misc]  # diffrax declares the path's ends abstract (equinox AbstractVar)
    t1: float  # type: ignore[misc]
    keys: Array  # (B, key)
    event_shape: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))

    def evaluate(self, t0, t1=None, left=True, use_levy=False):
        def one(key):
            return diffrax.UnsafeBrownianPath(self.event_shape, key).evaluate(t0, t1, left, use_levy)

        return jax.vmap(one)(self.keys)


@eqx.filter_jit
def _sample_sde(rng, process, score_fn, shape, sampler: "ReverseTimeSDE", num_steps: int, eps: float, schedule: str):
    prior_rng, path_rng = jax.random.split(rng)
    x_T = process.prior_sampling(prior_rng, shape)
    reverse = process.reverse(score_fn)
    span = process.T - eps

    def drift(s, x, args):
        return -reverse.sde(x, batch_time(process.T - s, x))[0]

    def diffusion(s, x, args):
        g = process.sde(x, batch_time(process.T - s, x))[1]
        return lineax.DiagonalLinearOperator(batch_broadcast(g, x) * jnp.ones_like(x))

    keys = jax.vmap(jax.random.fold_in, (None, 0))(path_rng, jnp.arange(shape[0]))
    path = PerExampleBrownianPath(0.0, span, keys, shape[1:])
    terms: diffrax.MultiTerm = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, path))
    if schedule == "time_uniform":
        steps = dict(dt0=span / num_steps)
    else:  # s = T - t on the schedule's grid, increasing from 0 to T - eps (its ends exactly the solve's)
        grid = process.T - get_timesteps(process, num_steps, eps, schedule)
        steps = dict(dt0=None, stepsize_controller=diffrax.StepTo(grid.at[0].set(0.0).at[-1].set(span)))
    solution = diffrax.diffeqsolve(
        terms,
        SDE_SOLVERS.get(sampler.solver).make(),
        t0=0.0,
        t1=span,
        y0=x_T,
        saveat=diffrax.SaveAt(t1=True),
        max_steps=num_steps,
        **steps,
    )
    x = solution.ys[0]
    if sampler.denoise:
        x = denoiser_of(process, score_fn)(x, batch_time(eps, x))
    return error_if_nonfinite(x, "sample_sde")


@register
@final
@dataclasses.dataclass(frozen=True)
class ReverseTimeSDE(Sampler):
    """The reverse-time SDE from the prior at T to eps in num_steps steps (None: the process's N).

    solver: one of SDE_SOLVERS: euler_maruyama (strong order 1 for additive noise), heun (2
    evaluations a step) or reversible_heun (1 a step, algebraically reversible). schedule: the step
    grid (None: the process's `default_schedule`; equal steps for all but `EDMPath`). eps: the
    smallest time (None: the process's `eps`). denoise: end with the denoiser E[x_0 | x_eps] = (x +
    s^2 score) / a at eps. nfe = initial + per-step evaluations * num_steps (+1 with `denoise`).
    """

    name: ClassVar[str] = "sde"
    solver: str = "euler_maruyama"
    num_steps: int | None = None
    schedule: str | None = None
    eps: float | None = None
    denoise: bool = True

    def __post_init__(self):
        SDE_SOLVERS.get(self.solver, "solver")
        if self.num_steps is not None:
            check_positive_int(self.num_steps, "num_steps")

    @classmethod
    def from_config(cls, sampling) -> "ReverseTimeSDE":
        return cls(
            solver=str(sampling.sde_solver),
            num_steps=config_steps(sampling),
            schedule=config_schedule(sampling),
            eps=float(sampling.eps),
            denoise=bool(sampling.noise_removal),
        )

    def __call__(self, rng, process, score_fn, shape):
        spec = SDE_SOLVERS.get(self.solver, "solver")
        shape, eps = check_sampler_inputs(process, score_fn, shape, self.eps)
        schedule = resolve_schedule(process, self.schedule)
        num_steps = int(self.num_steps or process.N)
        resolved = ReverseTimeSDE(self.solver, num_steps, schedule, eps, bool(self.denoise))
        x = _sample_sde(rng, process, score_fn, shape, resolved, num_steps, eps, schedule)
        return x, jnp.asarray(spec.initial_evals + spec.evals_per_step * num_steps + int(self.denoise), jnp.int32)

    @property
    def marginal_score_use(self) -> str:
        return "the reverse SDE"


def sample_sde(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    shape: tuple[int, ...],
    *,
    solver: str = "euler_maruyama",
    num_steps: int = 1000,
    schedule: str | None = None,
    eps: float | None = None,
    denoise: bool = True,
) -> tuple[Array, NFE]:
    """`ReverseTimeSDE` with these settings: samples (B, *event) and nfe = initial + per-step
    evaluations * num_steps (+1 with `denoise`)."""
    return ReverseTimeSDE(solver, num_steps, schedule, eps, denoise)(rng, process, score_fn, shape)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.sde_solver": Setting(
        "euler_maruyama", "sde: euler_maruyama, heun, reversible_heun", choice_of(SDE_SOLVERS)
    ),
}
