"""Jitted sampling from a run's network, sharded over the batch, with outputs for people."""

from pathlib import Path

import jax
import numpy as np

from score_sde.datasets import get_toy_sampler
from score_sde.datasets.images import to_uint8
from score_sde.files import write_npz_atomic
from score_sde.parallel import to_host
from score_sde.plotting import image_grid_png, scatter_png
from score_sde.runner.setup import Setup


def make_sample_fn(setup: Setup, num_samples: int):
    """sample(params, rng) -> (x (num_samples, *event_shape), nfe), x split over the devices."""
    shape = (num_samples, *setup.data.event_shape)

    def sample(params, rng):
        return setup.sampler(rng, setup.sampling_score_fn(params, num_samples), shape)

    return jax.jit(sample, out_shardings=(setup.batch_sharding(), setup.replicated))


def draw_samples(setup: Setup, params, rng, num_samples: int, batch_size: int) -> tuple[np.ndarray, int]:
    """num_samples samples as numpy, drawn in batches of `batch_size` (batch i uses fold_in(rng, i))."""
    sample = make_sample_fn(setup, batch_size)
    parts, nfe = [], 0
    for i in range(-(-num_samples // batch_size)):
        x, nfe = sample(params, jax.random.fold_in(rng, i))
        parts.append(to_host(x))
    return np.concatenate(parts)[:num_samples], int(nfe)


def write_samples(setup: Setup, folder: Path, samples: np.ndarray, title: str, grid_size: int = 64) -> None:
    """samples.npz (model-range floats, and uint8 images for image data) and a PNG to look at."""
    folder = Path(folder)
    data = setup.data
    if data.image:
        pixels = to_uint8(samples, centered=data.centered)
        write_npz_atomic(folder / "samples.npz", samples=samples, images=pixels)
        scale = max(1, 128 // pixels.shape[1])
        image_grid_png(folder / "samples.png", pixels[:grid_size], scale=scale)
    else:
        reference = get_toy_sampler(setup.config)(jax.random.PRNGKey(1), len(samples))
        write_npz_atomic(folder / "samples.npz", samples=samples, data=reference)
        scatter_png(folder / "samples.png", reference, samples, title=title)
