"""Jitted sampling from a run's network, sharded over the batch, with outputs for people."""

from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.datasets import get_toy_sampler
from score_sde.files import write_npz_atomic
from score_sde.parallel import to_host
from score_sde.plotting import image_grid_png, scatter_png
from score_sde.runner.setup import Setup


def make_sample_fn(setup: Setup, num_samples: int):
    """sample(params, rng) -> (x (num_samples, *event_shape), nfe), x split over the devices;
    compiled once per run and batch size."""
    shape = (num_samples, *setup.event_shape)

    def sample(params, rng):
        return setup.sample(rng, params, setup.sampling_score_fn(params, num_samples), shape)

    build = lambda: jax.jit(sample, out_shardings=(setup.layout.batch_sharding(), setup.layout.replicated))
    return setup.program(("sample", num_samples), build)


def make_indexed_sample_fn(setup: Setup, batch_size: int):
    """sample(params, rng, indices (batch_size,)) -> (x (batch_size, *event_shape), nfe): sample i
    drawn from fold_in(rng, i) alone (its own noise, its label `setup.sampling_labels(i)`), so it does
    not depend on the batch it is drawn in; the batch is one vmapped solve, nfe its largest count."""
    shape = (1, *setup.event_shape)

    def one(params, rng, index):
        labels = setup.sampling_labels(index[None])
        x, nfe = setup.sample(jax.random.fold_in(rng, index), params, setup.sampling_score_for(params, labels), shape)
        return x[0], nfe

    def sample(params, rng, indices):
        x, nfe = jax.vmap(one, in_axes=(None, None, 0))(params, rng, indices)
        return x, jnp.max(nfe)

    build = lambda: jax.jit(sample, out_shardings=(setup.layout.batch_sharding(), setup.layout.replicated))
    return setup.program(("indexed_sample", batch_size), build)


def sample_batches(setup: Setup, params, rng, num_samples: int, batch_size: int) -> Iterator[tuple[np.ndarray, int]]:
    """Yields (samples as numpy, nfe) batch by batch, num_samples in all (the last batch is cut);
    batch i uses fold_in(rng, i)."""
    sample = make_sample_fn(setup, batch_size)
    for i in range(-(-num_samples // batch_size)):
        x, nfe = sample(params, jax.random.fold_in(rng, i))
        yield to_host(x)[: num_samples - i * batch_size], int(nfe)


def draw_samples(setup: Setup, params, rng, num_samples: int, batch_size: int) -> tuple[np.ndarray, int]:
    """num_samples samples as one numpy array (see sample_batches) and the nfe per batch."""
    batches = list(sample_batches(setup, params, rng, num_samples, batch_size))
    return np.concatenate([x for x, _ in batches]), batches[-1][1]


def write_samples(setup: Setup, folder: Path, samples: np.ndarray, title: str | None, grid_size: int = 64) -> None:
    """samples.npz and a PNG to look at: for image data uint8 `images` (given as uint8 pixels or
    model-range floats), for 2-D data the `samples` beside fresh `data`."""
    folder = Path(folder)
    if setup.image:
        pixels = setup.to_uint8(samples)
        write_npz_atomic(folder / "samples.npz", images=pixels)
        scale = max(1, 128 // pixels.shape[1])
        image_grid_png(folder / "samples.png", pixels[:grid_size], scale=scale)
    else:
        reference = get_toy_sampler(setup.config)(jax.random.PRNGKey(1), len(samples))
        write_npz_atomic(folder / "samples.npz", samples=samples, data=reference)
        scatter_png(folder / "samples.png", reference, samples, title=title)
