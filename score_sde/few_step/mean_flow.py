"""MeanFlow (Geng, Deng, Bai, Kolter & He 2025): one-step generation by the average velocity of the
linear path z_t = (1 - t) x + t e (t = 0 data, t = 1 noise).

The model learns u(z, r, t) = 1 / (t - r) int_r^t v(z_tau, tau) dtau, the average of the flow's
velocity along its trajectory from t back to r (u(z, t, t) = v, the velocity itself), so
z_r = z_t - (t - r) u(z_t, r, t) exactly and one evaluation, x = e - u(e, 0, 1), draws a sample.
Its training target is the MeanFlow identity u = v - (t - r) du/dt, where du/dt = v d_z u + d_t u
is the derivative along the trajectory, one `jax.jvp` with tangents (v, 0, 1):
  loss = E w |u_theta(z_t, r, t) - sg(v - (t - r) du_theta/dt)|^2,  v = e - x (conditional),
  w = sg(1 / (|Delta|^2 + c)^p)  (the adaptive weight; p = 1 is a normalised L2, p = 0 plain L2).
Times: two logit-normal draws, t the larger and r the smaller, and r = t for a fraction 1 - ratio
of the batch (those examples train the flow-matching velocity). Classifier-free guidance is folded
into the target velocity (`guided_velocity`), so a guided model still samples in one step.

The network sees (z, t) and, through its interval embedding, t - r, unscaled as the paper's code
feeds them (`MeanFlowVelocity`, config.model.interval_embedding); at r = t it is a flow-matching
velocity model, so every sampler of the library and the probability-flow likelihood run on it.
"""

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp

from score_sde._types import NFE, Array
from score_sde.parameterization import PARAMETERIZATIONS, NetworkScore, Parameterization
from score_sde.sde import SDE, LinearFlow, batch_broadcast

# u(z (B, *event), r (B,), t (B,)) -> (B, *event): an average velocity
AverageVelocityFn = Callable[[Array, Array, Array], Array]


@PARAMETERIZATIONS.register("mean_flow")
@dataclasses.dataclass(frozen=True)
class MeanFlowVelocity(Parameterization):
    """The network F(z, t, t - r) is the average velocity u itself; at r = t (the
    interval embedding's default 0) it is the linear path's velocity, whose denoiser is D = z - t F."""

    name: ClassVar[str] = "mean_flow"
    native_weighting: ClassVar[str] = "velocity"
    default_weighting: ClassVar[str] = "velocity"

    @classmethod
    def from_config(cls, config, process: SDE, noise_condition: str) -> "MeanFlowVelocity":
        """Refuses, in one line, a process other than the linear path and an embedding of log time."""
        if not isinstance(process, LinearFlow):
            raise ValueError(
                "config.model.parameterization='mean_flow' is the average velocity of the linear path: set "
                f"config.training.sde='linear_flow'; got {config.training.sde!r}"
            )
        if str(config.model.embedding_type) == "fourier":
            raise ValueError(
                "config.model.embedding_type='fourier' embeds the log of the time, and MeanFlow's t and t - r reach "
                "0: set config.model.embedding_type='positional'"
            )
        return cls()

    def network_inputs(self, process, x, t):
        return x, t

    def output_coefficients(self, process, t, x):
        ones = batch_broadcast(jnp.ones_like(t), x)
        return ones, -batch_broadcast(t, x)

    def target(self, process, x0, z, t):
        return z - x0


def average_velocity(network: NetworkScore) -> AverageVelocityFn:
    """u(z, r, t) of a MeanFlow network (a `NetworkScore` with the `MeanFlowVelocity` parameterisation)
    in evaluation mode; refuses, in one line, any other score function."""
    if not (isinstance(network, NetworkScore) and isinstance(network.parameterization, MeanFlowVelocity)):
        raise ValueError(
            "the mean_flow sampler needs a MeanFlow model's average velocity (config.training.objective="
            f"'mean_flow'); got {type(network).__name__}: sample other models with their own sampler"
        )

    def u(z, r, t):
        return network.apply_fn(network.params, z, t, labels=network.labels, interval=t - r)

    return u


def time_pairs(rng: Array, batch: int, P_mean: float, P_std: float, ratio: float) -> tuple[Array, Array]:
    """(r, t) (B,) each: two logit-normal draws sigmoid(P_mean + P_std n), t the larger, r the
    smaller; r = t for each example with probability 1 - ratio."""
    draw_rng, mask_rng = jax.random.split(rng)
    draws = jax.nn.sigmoid(P_mean + P_std * jax.random.normal(draw_rng, (2, batch)))
    t, r = jnp.max(draws, axis=0), jnp.min(draws, axis=0)
    return jnp.where(jax.random.bernoulli(mask_rng, ratio, (batch,)), r, t), t


def mean_flow_target(u_fn: AverageVelocityFn, z: Array, r: Array, t: Array, velocity: Array) -> tuple[Array, Array]:
    """(u(z, r, t), sg(v - (t - r) du/dt)) with du/dt = v d_z u + d_t u by one forward-mode pass
    (`jax.jvp`, tangents (v, 0, 1)); gradients flow through u alone."""
    u, du_dt = jax.jvp(u_fn, (z, r, t), (velocity, jnp.zeros_like(r), jnp.ones_like(t)))
    return u, jax.lax.stop_gradient(velocity - batch_broadcast(t - r, z) * du_dt)


def adaptive_loss(squared_error: Array, power: float, c: float) -> Array:
    """mean_b sg(w) |Delta_b|^2 with w = 1 / (|Delta_b|^2 + c)^power, of squared errors (B,)."""
    return jnp.mean(squared_error / jax.lax.stop_gradient((squared_error + c) ** power))


def guided_velocity(
    velocity: Array, conditional: Array, unconditional: Array, scale: float, mix: float, active: Array
) -> Array:
    """The target velocity of classifier-free guidance folded into training: scale v + (1 - scale -
    mix) v_uncond + mix v_cond, with v_cond and v_uncond the model's own velocity u(z, t, t) with and
    without the label (mix = 0: v_uncond + scale (v - v_uncond)); v itself where `active` (B,) is False
    (outside the guidance interval, or for the examples whose label was dropped)."""
    guided = scale * velocity + (1.0 - scale - mix) * unconditional + mix * conditional
    return jnp.where(batch_broadcast(active, velocity), guided, velocity)


@dataclasses.dataclass(frozen=True)
class MeanFlowSettings:
    """The loss's settings: logit-normal times (P_mean, P_std), the fraction `ratio` of pairs with
    r != t, the adaptive weight's power p and constant c, and folded guidance (scale omega, mix kappa,
    applied for t in [guidance_t_min, guidance_t_max]; scale 1 and mix 0: none)."""

    P_mean: float = -0.4
    P_std: float = 1.0
    ratio: float = 0.25
    power: float = 1.0
    c: float = 1e-3
    guidance_scale: float = 1.0
    guidance_mix: float = 0.0
    guidance_t_min: float = 0.0
    guidance_t_max: float = 1.0

    @property
    def guided(self) -> bool:
        return self.guidance_scale != 1.0 or self.guidance_mix != 0.0


def mean_flow_loss(
    rng: Array,
    u_fn: AverageVelocityFn,
    x0: Array,
    settings: MeanFlowSettings,
    velocity_fn: Callable[[Array, Array], tuple[Array, Array]] | None = None,
    guide: Array | None = None,
) -> Array:
    """The MeanFlow loss (module docstring) of a batch x0 (B, *event) through u_fn (the network in
    training mode). With guidance (`settings.guided`): `velocity_fn(z, t)` gives the model's
    (conditional, unconditional) velocities u(z, t, t), not differentiated, and `guide` (B,) says
    which examples carry a label (the others, dropped to the null label, keep v)."""
    time_rng, noise_rng = jax.random.split(rng)
    r, t = time_pairs(time_rng, x0.shape[0], settings.P_mean, settings.P_std, settings.ratio)
    e = jax.random.normal(noise_rng, x0.shape, x0.dtype)
    z = batch_broadcast(1.0 - t, x0) * x0 + batch_broadcast(t, x0) * e
    velocity = e - x0
    if settings.guided:
        if velocity_fn is None or guide is None:
            raise ValueError("guidance folded into MeanFlow's target needs the model's velocities and the labels")
        conditional, unconditional = jax.lax.stop_gradient(velocity_fn(z, t))
        active = guide & (t >= settings.guidance_t_min) & (t <= settings.guidance_t_max)
        velocity = guided_velocity(
            velocity, conditional, unconditional, settings.guidance_scale, settings.guidance_mix, active
        )
    u, target = mean_flow_target(u_fn, z, r, t, velocity)
    squared_error = jnp.sum(jnp.reshape(u - target, (x0.shape[0], -1)) ** 2, axis=-1)
    return adaptive_loss(squared_error, settings.power, settings.c)


def sample_mean_flow(rng: Array, u_fn: AverageVelocityFn, shape: tuple[int, ...], times) -> tuple[Array, NFE]:
    """z_r = z_t - (t - r) u(z_t, r, t) over consecutive `times` (descending, from 1 to 0), starting
    from e ~ N(0, I); returns (samples, nfe = len(times) - 1). times (1, 0) is one-step sampling."""
    times = jnp.asarray(times, jnp.float32)
    batch_time = lambda t: jnp.full((shape[0],), t)

    def step(z, pair):
        t, r = pair
        return z - (t - r) * u_fn(z, batch_time(r), batch_time(t)), None

    z, _ = jax.lax.scan(step, jax.random.normal(rng, shape), (times[:-1], times[1:]))
    return z, jnp.asarray(len(times) - 1, jnp.int32)
