"""Evaluation of an autoencoder run (config.model.name="autoencoder"): how well it reconstructs
held-out images, and pictures of its reconstructions."""

import jax
import numpy as np

from score_sde.datasets import get_image_source
from score_sde.datasets.images import to_model_input
from score_sde.parallel import to_host
from score_sde.runner.setup import Setup


def _reconstruction_program(setup: Setup):
    """run(params, rng, pixels (B, H, W, C)) -> (model-range inputs, reconstructions from the posterior
    mean, KL(q(z | x) || N(0, I)) per latent dimension (B,) in nats), jitted once per run."""
    data = setup.config.data
    settings = dict(centered=bool(data.centered), uniform_dequantization=False, random_flip=False)

    def run(params, rng, pixels):
        x = to_model_input(rng, pixels, **settings)
        posterior = setup.model.apply({"params": params}, x, method="encode")
        reconstruction = setup.model.apply({"params": params}, posterior.mode(), method="decode")
        return x, reconstruction, posterior.kl() / posterior.mean[0].size

    return setup.program("reconstruct", lambda: jax.jit(run))


def reconstructions(setup: Setup, params, rng, num_images: int) -> np.ndarray:
    """uint8 pixels (2 num_images, H, W, C): held-out images and their reconstructions in turn
    (for a PNG grid: each row pairs images with their reconstructions)."""
    source = get_image_source(setup.config, "eval")
    pixels = source.get(np.arange(min(num_images, len(source))))[0]
    _, reconstruction, _ = _reconstruction_program(setup)(params, rng, pixels)
    rebuilt = setup.to_uint8(to_host(reconstruction))
    return np.stack([pixels, rebuilt], axis=1).reshape(-1, *pixels.shape[1:])


def evaluate_autoencoder(setup: Setup, params, rng, settings) -> tuple[dict, np.ndarray]:
    """Reconstruction figures of the first config.eval.num_samples held-out images (all if fewer), in
    batches of config.eval.batch_size, decoding the posterior mean: root-mean-square error in the
    model's range and in 8-bit levels, PSNR over the 8-bit range, and the KL term per latent
    dimension; with the image/reconstruction pairs of the first batch (`reconstructions`)."""
    source = get_image_source(setup.config, "eval")
    total, batch_size = min(int(settings["num_samples"]), len(source)), int(settings["batch_size"])
    run = _reconstruction_program(setup)
    squared, squared_levels, kl, count = 0.0, 0.0, 0.0, 0
    for start in range(0, total, batch_size):
        pixels = source.get(np.arange(start, min(start + batch_size, total)))[0]
        x, reconstruction, kl_batch = (to_host(v) for v in run(params, rng, pixels))
        squared += float(np.sum((reconstruction - x) ** 2))
        levels = setup.to_uint8(reconstruction).astype(np.float64) - np.asarray(pixels, np.float64)
        squared_levels += float(np.sum(levels**2))
        kl += float(np.sum(kl_batch))
        count += len(pixels)
    dims = count * int(np.prod(setup.output_shape))
    rmse_levels = np.sqrt(squared_levels / dims)
    record = {
        "reconstruction_rmse": float(np.sqrt(squared / dims)),
        "reconstruction_rmse_levels": float(rmse_levels),
        "reconstruction_psnr": float(20 * np.log10(255.0 / max(rmse_levels, 1e-12))),
        "kl_per_latent_dim": kl / count,
        "reconstruction_examples": count,
    }
    return record, reconstructions(setup, params, rng, min(32, total))
