"""Interpolation between data points through the probability-flow ODE's latent space.

Both endpoints are encoded to latents at T, which are joined by a great circle (spherical
interpolation keeps the latent norm typical of the prior's Gaussian), and decoded back.
"""

import jax.numpy as jnp

from score_sde._types import NFE, Array, ScoreFn
from score_sde.sampling.probability_flow import ProbabilityFlowODE
from score_sde.sde import SDE


def slerp(z0: Array, z1: Array, fractions: Array) -> Array:
    """Spherical interpolation of latents z0, z1 (B, *event) at fractions (K,) in [0, 1].

    Returns (B, K, *event); fraction 0 gives z0 and 1 gives z1. The angle is between the
    flattened examples; nearly parallel pairs fall back to linear interpolation.
    """
    flat0, flat1 = (jnp.reshape(z, (z.shape[0], -1)) for z in (z0, z1))
    cosine = jnp.sum(flat0 * flat1, -1) / (jnp.linalg.norm(flat0, axis=-1) * jnp.linalg.norm(flat1, axis=-1))
    theta = jnp.arccos(jnp.clip(cosine, -1.0, 1.0))[:, None]  # (B, 1)
    f = jnp.asarray(fractions, z0.dtype)[None, :]
    sin = jnp.sin(theta)
    parallel = sin < 1e-6
    w0 = jnp.where(parallel, 1.0 - f, jnp.sin((1.0 - f) * theta) / jnp.where(parallel, 1.0, sin))
    w1 = jnp.where(parallel, f, jnp.sin(f * theta) / jnp.where(parallel, 1.0, sin))
    expand = (slice(None), slice(None)) + (None,) * (z0.ndim - 1)
    return w0[expand] * z0[:, None] + w1[expand] * z1[:, None]


def interpolate_path(
    ode: ProbabilityFlowODE, process: SDE, score_fn: ScoreFn, x0: Array, x1: Array, num_points: int
) -> tuple[Array, NFE]:
    """Decoded points along the latent great circle from x0 to x1 (both (B, *event)), both ends
    encoded and the path decoded by `ode`.

    Args:
      num_points: points per pair, endpoints included (>= 2); the first and last are the
        reconstructions of x0 and x1, equal to them up to the solver tolerance.

    Returns:
      path (B, num_points, *event) and the total nfe of the encoding and decoding solves.
    """
    if int(num_points) < 2:
        raise ValueError(f"num_points must be at least 2 (the two endpoints); got {num_points!r}")
    if x0.shape != x1.shape:
        raise ValueError(f"the endpoints must have the same shape; got {x0.shape} and {x1.shape}")
    batch = x0.shape[0]
    latents, encode_nfe = ode.encode(process, score_fn, jnp.concatenate([x0, x1]))
    path = slerp(latents[:batch], latents[batch:], jnp.linspace(0.0, 1.0, int(num_points)))
    flat = jnp.reshape(path, (batch * int(num_points), *x0.shape[1:]))
    decoded, decode_nfe = ode.decode(process, score_fn, flat)
    return jnp.reshape(decoded, path.shape), encode_nfe + decode_nfe


def interpolate(
    process: SDE,
    score_fn: ScoreFn,
    x0: Array,
    x1: Array,
    num_points: int,
    **ode_settings,
) -> tuple[Array, NFE]:
    """`interpolate_path` with a `ProbabilityFlowODE` of `ode_settings` (eps, solver, rtol, atol,
    num_steps, schedule, max_steps; the tolerances 1e-6 by default, as for `encode`/`decode`)."""
    ode = ProbabilityFlowODE(**{"rtol": 1e-6, "atol": 1e-6, **ode_settings})
    return interpolate_path(ode, process, score_fn, x0, x1, num_points)
