"""Inpainting and colorization with predictor-corrector sampling (Song et al. 2021, appendix I).

The known coordinates are replaced, after every predictor and corrector update, by the data
diffused forward to the current time, x_known(t) ~ p_t(x | data); the network fills in the rest.
Colorization is the same thing in an orthogonal colour basis whose first axis is the gray level.

This is the reference's method, not exact posterior sampling: it is exact when the unknown
coordinates are independent of the known ones given what the known ones reveal early in the
reverse process, and biased otherwise (see the tests for both cases, measured on the oracle).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from score_sde._types import NFE, Array, ArrayLike, ScoreFn
from score_sde.checks import error_if_nonfinite
from score_sde.noise import per_example_normal
from score_sde.sampling.pc import PredictorCorrector, pc_scan
from score_sde.sde import SDE, batch_broadcast

# Orthonormal colour basis (columns): the gray axis (1, 1, 1)/sqrt(3), then two chroma axes.
COLOR_BASIS = np.array(
    [
        [1 / np.sqrt(3), -np.sqrt(2 / 3), 0.0],
        [1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)],
        [1 / np.sqrt(3), 1 / np.sqrt(6), -1 / np.sqrt(2)],
    ],
    np.float32,
)


def _basis_maps(basis: Array | None):
    """(to_basis, from_basis) over the last axis; identities without a basis."""
    if basis is None:
        return (lambda x: x), (lambda y: y)
    return (lambda x: x @ basis), (lambda y: y @ basis.T)


@eqx.filter_jit
def _sample_inpaint(rng, process, score_fn, data, mask, basis, sampler: PredictorCorrector):
    to_basis, from_basis = _basis_maps(basis)
    known = to_basis(data)

    def replace_known(rng, x, x_mean, t):
        """Known coordinates <- the data diffused forward to time t (x_mean: its mean)."""
        mean, std = process.marginal_prob(known, t)
        noisy = mean + batch_broadcast(std, known) * per_example_normal(rng, known.shape)
        return (
            from_basis(to_basis(x) * (1.0 - mask) + noisy * mask),
            from_basis(to_basis(x_mean) * (1.0 - mask) + mean * mask),
        )

    prior_rng, loop_rng = jax.random.split(rng)
    x = from_basis(known * mask + to_basis(process.prior_sampling(prior_rng, data.shape)) * (1.0 - mask))
    x, x_mean = pc_scan(loop_rng, process, score_fn, x, sampler, replace_known)
    x = from_basis(to_basis(x_mean if sampler.denoise else x) * (1.0 - mask) + known * mask)  # known: exactly the data
    return error_if_nonfinite(x, "inpainting")


def inpaint(
    sampler: PredictorCorrector,
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    data: ArrayLike,
    mask: ArrayLike,
    basis: ArrayLike | None = None,
) -> tuple[Array, NFE]:
    """Fills in the unknown part of `data` by PC sampling with `sampler` (the reference's
    `get_pc_inpainter`).

    Args:
      data: (B, *event) in the model's input range; only the known part is read.
      mask: 1 where data is known, 0 where it is generated; broadcastable to data (e.g. (1, H, W, 1)).
        With `basis`, it selects coordinates of the data expressed in that basis.
      basis: optional orthogonal (C, C) matrix over the last axis; the mask applies to x @ basis.

    Returns:
      (B, *event) samples whose known coordinates equal the data exactly, and nfe.
    """
    data = jnp.asarray(data)
    process, resolved, shape, nfe = sampler.resolve(process, score_fn, data.shape)
    mask = jnp.asarray(mask, data.dtype)
    try:
        mask = jnp.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to the data's shape {shape}") from None
    if not bool(jnp.all((mask == 0) | (mask == 1))):
        raise ValueError("mask must hold only 0 (generate) and 1 (known)")
    if basis is not None:
        basis = jnp.asarray(basis, data.dtype)
        if basis.shape != (shape[-1], shape[-1]) or not np.allclose(basis @ basis.T, np.eye(shape[-1]), atol=1e-5):
            raise ValueError(f"basis must be an orthogonal ({shape[-1]}, {shape[-1]}) matrix; got shape {basis.shape}")
    x = _sample_inpaint(rng, process, score_fn, data, mask, basis, resolved)
    return x, jnp.asarray(nfe, jnp.int32)


def colorize(
    sampler: PredictorCorrector, rng: Array, process: SDE, score_fn: ScoreFn, gray: Array
) -> tuple[Array, NFE]:
    """Colour images by inpainting with `sampler` in a colour basis whose first axis (the gray level) is known.

    Args:
      gray: (B, H, W, 1) gray levels, or (B, H, W, 3) images of which only the channel mean is
        used, in the model's input range.

    Returns:
      (B, H, W, 3) samples whose channel mean equals the gray level exactly, and nfe.
    """
    gray = jnp.asarray(gray)
    if gray.ndim != 4 or gray.shape[-1] not in (1, 3):
        raise ValueError(f"colorization needs gray images (B, H, W, 1) or (B, H, W, 3); got shape {gray.shape}")
    data = jnp.broadcast_to(jnp.mean(gray, axis=-1, keepdims=True), (*gray.shape[:3], 3))
    mask = jnp.array([1.0, 0.0, 0.0], data.dtype)  # the gray axis of COLOR_BASIS is known
    return inpaint(sampler, rng, process, score_fn, data, mask, basis=COLOR_BASIS)


def sample_inpaint(
    rng: Array,
    process: SDE,
    score_fn: ScoreFn,
    data: Array,
    mask: Array,
    *,
    basis: Array | None = None,
    **pc_settings,
) -> tuple[Array, NFE]:
    """`inpaint` with a `PredictorCorrector` of `pc_settings` (the keywords of `sample_pc`)."""
    return inpaint(PredictorCorrector(**pc_settings), rng, process, score_fn, data, mask, basis)


def to_grayscale(images: Array) -> Array:
    """(B, H, W, 3) colour -> (B, H, W, 3) with every channel the mean of the three."""
    return jnp.broadcast_to(jnp.mean(images, axis=-1, keepdims=True), images.shape)


def sample_colorize(rng: Array, process: SDE, score_fn: ScoreFn, gray: Array, **pc_settings) -> tuple[Array, NFE]:
    """`colorize` with a `PredictorCorrector` of `pc_settings` (the keywords of `sample_pc`)."""
    return colorize(PredictorCorrector(**pc_settings), rng, process, score_fn, gray)
