"""Continuous-time consistency models (sCM: sCT and sCD; Lu & Song, ICLR 2025) on TrigFlow's path.

On x_t = cos t x_0 + sin t z (z ~ N(0, sigma_d^2 I)) the consistency function is
f(x_t, t) = cos t x_t - sin t sigma_d F(x_t / sigma_d, t) (`TrigFlowParameterization`'s denoiser),
and its derivative along the probability flow, scaled by cos t, is the tangent
  g = -cos^2 t (sigma_d F^- - dx_t/dt) - r cos t sin t (x_t + sigma_d dF^-/dt)   (r = 1: g = cos t df^-/dt),
with F^- the network with stopped gradients and dF^-/dt = d_x F dx_t/dt / sigma_d + d_t F by one
`jax.jvp` on (x_t / sigma_d, t) with tangents (cos t sin t dx_t/dt, cos t sin t sigma_d), which
returns sigma_d cos t sin t dF^-/dt. The loss moves F against g:
  L = e^{-w(t)} / D |F - F^- - g / (|g| + c)|^2 + w(t)
(tangent normalisation with c; w a learned log-variance of the time, the adaptive weighting;
r rises from 0 to 1 over the warm-up). dx_t/dt is cos t z - sin t x_0 in sCT (the path's own
velocity, training from scratch) and the teacher's probability-flow velocity in sCD. Times:
tan t = e^tau / sigma_d with tau ~ N(P_mean, P_std).
"""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from score_sde._types import Array
from score_sde.conversions import velocity_from_denoiser
from score_sde.models.layers import sinusoidal_embedding
from score_sde.sde import batch_broadcast

# F(x_in (B, *event), t (B,)) -> (B, *event): the TrigFlow network, parameters and dropout bound
TrigFlowNetFn = Callable[[Array, Array], Array]
# dx_t/dt (B, *event) at (x_t, t (B,)): the teacher's probability-flow velocity in sCD
VelocityFn = Callable[[Array, Array], Array]


@dataclasses.dataclass(frozen=True)
class ContinuousConsistencySettings:
    """sCM's settings: the log-normal times (P_mean, P_std of ln(sigma_d tan t)), the tangent
    normalisation's c (0: none), the tangent warm-up's steps (0: r = 1 from the start) and whether
    the loss is weighted by the learned w(t) (otherwise w = 0)."""

    P_mean: float = -1.0
    P_std: float = 1.4
    tangent_c: float = 0.1
    warmup_steps: int = 10_000
    adaptive_weighting: bool = True

    def warmup(self, step) -> Array:
        """r = min(1, step / warmup_steps) (1 without a warm-up or without a step: evaluation)."""
        if self.warmup_steps == 0 or step is None:
            return jnp.ones((), jnp.float32)
        return jnp.minimum(jnp.asarray(step, jnp.float32) / self.warmup_steps, 1.0)


class TimeWeight(nn.Module):
    """The adaptive weighting's w(t): a linear map of a positional embedding of t (B,) to (B,),
    starting at 0 (weight 1)."""

    features: int = 128

    @nn.compact
    def __call__(self, t: Array) -> Array:
        embedding = sinusoidal_embedding(t, self.features)
        return nn.Dense(1, kernel_init=nn.initializers.zeros)(embedding)[:, 0]


def trigflow_times(rng: Array, batch: int, sigma_data: float, P_mean: float, P_std: float) -> Array:
    """t = arctan(e^tau / sigma_d), tau ~ N(P_mean, P_std) (B,): EDM's log-normal noise levels as times."""
    tau = P_mean + P_std * jax.random.normal(rng, (batch,))
    return jnp.arctan(jnp.exp(tau) / sigma_data)


def consistency_tangent(
    net_fn: TrigFlowNetFn, x_t: Array, t: Array, dxt_dt: Array, sigma_data: float, warmup: Array
) -> tuple[Array, Array]:
    """(F^-, g): the network's output at (x_t / sigma_d, t) and the tangent g of the module docstring
    (not normalised), by one forward-mode pass; `net_fn` should see stopped-gradient parameters."""
    cos, sin = batch_broadcast(jnp.cos(t), x_t), batch_broadcast(jnp.sin(t), x_t)
    cos_sin = jnp.cos(t) * jnp.sin(t)
    output, scaled_derivative = jax.jvp(
        net_fn, (x_t / sigma_data, t), (batch_broadcast(cos_sin, x_t) * dxt_dt, cos_sin * sigma_data)
    )
    tangent = -(cos**2) * (sigma_data * output - dxt_dt) - warmup * (cos * sin * x_t + scaled_derivative)
    return output, tangent


def normalise_tangent(tangent: Array, c: float) -> Array:
    """g / (|g| + c), the norm over each whole example (c = 0: g unchanged)."""
    if c == 0.0:
        return tangent
    norm = jnp.sqrt(jnp.sum(jnp.reshape(tangent, (tangent.shape[0], -1)) ** 2, axis=-1))
    return tangent / batch_broadcast(norm + c, tangent)


def continuous_consistency_loss(
    rng: Array,
    net_fn: Callable[[object, Array, Array], Array],
    params,
    x0: Array,
    sigma_data: float,
    settings: ContinuousConsistencySettings,
    step=None,
    weight_fn: Callable[[Array], Array] | None = None,
    teacher_velocity: VelocityFn | None = None,
) -> Array:
    """The sCM loss (module docstring) of a batch x0 (B, *event): sCT with the path's velocity, sCD with
    `teacher_velocity`. net_fn(params, x_in, t) is the network (its dropout draw fixed, so F and F^-
    share it); `weight_fn(t)` the learned w(t) (None: w = 0)."""
    time_rng, noise_rng = jax.random.split(rng)
    t = trigflow_times(time_rng, x0.shape[0], sigma_data, settings.P_mean, settings.P_std)
    z = sigma_data * jax.random.normal(noise_rng, x0.shape, x0.dtype)
    cos, sin = batch_broadcast(jnp.cos(t), x0), batch_broadcast(jnp.sin(t), x0)
    x_t = cos * x0 + sin * z
    if teacher_velocity is None:
        dxt_dt = cos * z - sin * x0
    else:
        dxt_dt = jax.lax.stop_gradient(teacher_velocity(x_t, t))
    frozen = jax.lax.stop_gradient(params)
    target_output, tangent = consistency_tangent(
        lambda x_in, s: net_fn(frozen, x_in, s), x_t, t, dxt_dt, sigma_data, settings.warmup(step)
    )
    target = jax.lax.stop_gradient(target_output + normalise_tangent(tangent, settings.tangent_c))
    output = net_fn(params, x_t / sigma_data, t)
    squared = jnp.mean(jnp.reshape(output - target, (x0.shape[0], -1)) ** 2, axis=-1)
    if weight_fn is None:
        return jnp.mean(squared)
    w = weight_fn(t)
    return jnp.mean(jnp.exp(-w) * squared + w)


def trigflow_velocity(denoise: Callable[[Array, Array], Array], x_t: Array, t: Array, sigma_data: float) -> Array:
    """TrigFlow's probability-flow velocity dx_t/dt = (cos t x_t - D(x_t, t)) / sin t from a denoiser at the
    path's own noise levels (sigma_d F for a TrigFlow model)."""
    cos, sin = batch_broadcast(jnp.cos(t), x_t), batch_broadcast(jnp.sin(t), x_t)
    return velocity_from_denoiser(x_t, denoise(x_t, t), cos, sigma_data * sin, -sin, sigma_data * cos)
