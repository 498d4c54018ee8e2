"""Evaluation of a trained state, by the figures its objective reports (`Objective.figures`):
held-out loss, likelihood (bits/dim, or nats for 2-D data), sample quality, and an autoencoder's
reconstructions. Used by the eval, sample and likelihood modes and at the end of training."""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.datasets import get_image_source, get_toy_sampler
from score_sde.datasets.images import to_model_input
from score_sde.datasets.pipeline import eval_batches
from score_sde.evaluation.image_quality import image_quality
from score_sde.evaluation.mmd import mmd_squared
from score_sde.parallel import to_global, to_host
from score_sde.pieces import PieceStore, run_pieces
from score_sde.runner.drawing import make_indexed_sample_fn
from score_sde.runner.setup import Setup

TOY_EVAL_KEY = 0xE7A1


def _image_split(setup: Setup, which: str):
    if which not in ("train", "test"):
        raise ValueError(f"config.eval.bpd_dataset={which!r}: choose from ('train', 'test')")
    return get_image_source(setup.config, "train" if which == "train" else "eval")


def _local_batches(setup: Setup, source, batch_size: int, max_examples: int):
    return eval_batches(source, batch_size, jax.process_index(), jax.process_count(), max_examples)


def eval_loss(setup: Setup, params, rng, settings) -> float:
    """Mean loss of `params` (evaluation mode, no augmentation) on the evaluation split."""
    objective = setup.objective

    def loss_fn(params, rng, x, labels=None):
        return objective.loss(params, rng, x, labels, train=False)

    data, conditional = setup.training_data, bool(setup.num_classes)
    if not data.image:
        x = get_toy_sampler(setup.config)(
            jax.random.fold_in(jax.random.PRNGKey(TOY_EVAL_KEY), 1), settings["num_samples"]
        )
        return float(setup.program("toy_eval_loss", lambda: jax.jit(loss_fn))(params, rng, x))

    def loss_of_raw(params, rng, raw):
        input_rng, loss_rng = jax.random.split(rng)
        return loss_fn(params, loss_rng, data.model_input(input_rng, raw, False), raw["label"] if conditional else None)

    batch_loss = setup.program("eval_loss", lambda: jax.jit(loss_of_raw))

    sharding = setup.layout.batch_sharding()
    source = get_image_source(setup.config, "eval")
    losses = [
        batch_loss(params, jax.random.fold_in(rng, i), to_global(raw, sharding))
        for i, raw in enumerate(_local_batches(setup, source, settings["batch_size"], settings["num_loss_examples"]))
    ]
    if not losses:
        raise ValueError(
            f"the evaluation split has fewer than config.eval.batch_size={settings['batch_size']} examples"
        )
    return float(jnp.mean(jnp.stack(losses)))


def likelihood(setup: Setup, params, rng, settings, progress: bool = False, folder=None) -> dict:
    """Image data: bits/dim over config.eval.bpd_dataset by the objective's likelihood
    (`Objective.bits_per_dim_fn`: the probability-flow ODE or the variational bound by
    config.eval.likelihood, LSGM's bound for a latent model), with its parts. Batch k of the split
    is a piece (`score_sde.pieces`) computed by one process with fold_in(rng, k), kept in
    `folder` when one is given. 2-D data: negative log-likelihood in nats of fresh samples
    (probability-flow ODE, exact trace). A model that defines no density (a distilled student) is refused."""
    if not setup.image:
        logp = setup.objective.log_likelihood_fn()
        x = get_toy_sampler(setup.config)(
            jax.random.fold_in(jax.random.PRNGKey(TOY_EVAL_KEY), 2), min(settings["num_samples"], 1000)
        )
        nll = setup.program("nll", lambda: jax.jit(lambda p, k, x: -logp(p, k, x)[0]))
        nats = np.asarray(nll(params, rng, x))
        return {"nll_nats": float(nats.mean()), "nll_stderr": float(nats.std() / np.sqrt(len(nats)))}

    bpd_of, method = setup.objective.bits_per_dim_fn(settings, setup.data_range)
    local = setup.on_local_devices()
    params = local.layout.put_replicated(params)
    bpd_fn = local.program(("bpd", method, tuple(settings[k] for k in LIKELIHOOD_FIELDS)), lambda: jax.jit(bpd_of))
    sharding = local.layout.batch_sharding()
    source = _image_split(setup, settings["bpd_dataset"])
    batch_size = settings["batch_size"]
    total = len(source) if settings["num_bpd_examples"] <= 0 else min(settings["num_bpd_examples"], len(source))
    if total < batch_size:
        raise ValueError(
            f"the {settings['bpd_dataset']} split has fewer than config.eval.batch_size={batch_size} examples"
        )

    def compute(k):
        indices = np.arange(k * batch_size, (k + 1) * batch_size)
        images = source.get(indices)[0]
        parts, nfe = bpd_fn(params, jax.random.fold_in(rng, k), to_global(images, sharding))
        return indices, {**to_host(parts), "nfe": np.full(batch_size, int(nfe))}

    job = {name: settings[name] for name in LIKELIHOOD_FIELDS} | {"rng": _key_list(rng), **_latent_job(setup)}
    values, summary = run_pieces(_store(folder, job), total // batch_size, compute, progress, "bits/dim")
    values.pop("indices")
    bpd, nfe = values.pop("bpd"), values.pop("nfe")
    record = {
        "bpd": float(bpd.mean()),
        "bpd_stderr": float(bpd.std() / np.sqrt(len(bpd))),
        "bpd_examples": len(bpd),
        "bpd_method": method,
    }
    record.update({f"bpd_{name}": float(value.mean()) for name, value in values.items()})
    if method != "elbo":  # a solve: its dequantisation and cost
        record["bpd_dequantization"] = settings["dequantization"]
        record["bpd_nfe_mean"] = float(nfe.mean())
    record.update({f"bpd_{name}": value for name, value in summary.items() if name != "time_s"})
    return record


# the settings a piece of the bits/dim job depends on (besides its key and index)
LIKELIHOOD_FIELDS = (
    "likelihood",
    "dequantization",
    "batch_size",
    "bpd_dataset",
    "bpd_num_repeats",
    "bpd_batch_repeats",
    "likelihood_trace",
    "likelihood_rtol",
    "likelihood_atol",
)


def _latent_job(setup: Setup) -> dict:
    """What a latent model's pieces also depend on: the autoencoder (workdir, step) and the scale."""
    latent = setup.latent
    return {} if latent is None else {"latent": [str(latent.workdir), int(latent.step), float(latent.scale)]}


def _key_list(rng) -> list[int]:
    return np.asarray(jax.random.key_data(rng)).ravel().tolist()


def _store(folder, settings: dict) -> PieceStore | None:
    return None if folder is None else PieceStore(Path(folder), settings)


def sample_quality(setup: Setup, samples: np.ndarray, workdir=None, progress: bool = False) -> dict:
    """Sample-quality figures available for this data: MMD^2 against fresh data for 2-D data;
    for images (model-range floats or uint8) those of `score_sde.evaluation.image_quality.image_quality`."""
    if setup.image:
        pixels = setup.to_uint8(samples)
        return image_quality(setup.config, workdir, pixels, progress)
    sampler = get_toy_sampler(setup.config)
    key = jax.random.PRNGKey(TOY_EVAL_KEY)
    data, other = sampler(jax.random.fold_in(key, 3), len(samples)), sampler(jax.random.fold_in(key, 4), len(samples))
    return {
        "mmd2_samples_vs_data": float(mmd_squared(jnp.asarray(samples), data)),
        "mmd2_data_vs_data": float(mmd_squared(other, data)),
    }


def draw_and_score(
    setup: Setup, params, rng, settings, progress: bool = False, workdir=None, folder=None
) -> tuple[dict, np.ndarray]:
    """Draws settings["num_samples"] samples and scores them. Sample i comes from (rng, i) alone
    (`make_indexed_sample_fn`); batch k of config.eval.batch_size samples is a piece
    (`score_sde.pieces`) computed by one process, kept in `folder` when one is given.
    Image samples are kept as uint8 pixels. `workdir` caches FID's reference statistics."""
    num_samples, batch_size = settings["num_samples"], settings["batch_size"]
    local = setup.on_local_devices()
    params = local.layout.put_replicated(params)
    sample = make_indexed_sample_fn(local, batch_size)

    def compute(k):
        indices = np.arange(k * batch_size, (k + 1) * batch_size)
        x, nfe = sample(params, rng, jnp.asarray(indices))
        x = to_host(x)
        values = {"images": setup.to_uint8(x)} if setup.image else {"samples": x}
        return indices, {**values, "nfe": np.full(batch_size, int(nfe))}

    job = {
        "batch_size": batch_size,
        "rng": _key_list(rng),
        "sampler": sampler_settings(setup.config),
        **_latent_job(setup),
    }
    count = -(-num_samples // batch_size)
    values, summary = run_pieces(_store(folder, job), count, compute, progress, "sampling")
    samples = values["images" if setup.image else "samples"][:num_samples]
    record = {
        "sample_nfe": int(values["nfe"].max()),
        "sample_time_s": summary["time_s"],
        "num_samples": len(samples),
        **{f"sample_{name}": value for name, value in summary.items() if name != "time_s"},
    }
    quality = image_quality(setup.config, workdir, samples, progress) if setup.image else sample_quality(setup, samples)
    record.update(quality)
    return record, samples


def sampler_settings(config) -> dict:
    """The settings a drawn sample depends on besides its key: config.sampling and the model."""
    return {"sampling": config.sampling.to_dict(), "model": config.model.to_dict(), "sde": str(config.training.sde)}


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


def _within(folder, name: str):
    return None if folder is None else Path(folder) / name


def _loss_figure(setup: Setup, params, rng, settings, progress, workdir, folder):
    return {"eval_loss": eval_loss(setup, params, rng, settings)}, None


def _likelihood_figure(setup: Setup, params, rng, settings, progress, workdir, folder):
    start = time.time()
    record = likelihood(setup, params, rng, settings, progress, _within(folder, "likelihood"))
    return {**record, "likelihood_time_s": time.time() - start}, None


def _samples_figure(setup: Setup, params, rng, settings, progress, workdir, folder):
    return draw_and_score(
        setup, params, rng, settings, progress, workdir, None if folder is None else Path(folder) / "samples"
    )


def _reconstruction_figure(setup: Setup, params, rng, settings, progress, workdir, folder):
    return evaluate_autoencoder(setup, params, rng, settings)


# each figure of `score_sde.objectives.FIGURES`: the config.eval switch that enables it ("" always on),
# the rng it draws from (its index in a 3-way split of the evaluation's key; -1 the key itself), its function
FIGURE_RUNS = {
    "loss": ("enable_loss", 0, _loss_figure),
    "likelihood": ("enable_bpd", 1, _likelihood_figure),
    "samples": ("enable_sampling", 2, _samples_figure),
    "reconstruction": ("", -1, _reconstruction_figure),
}


def evaluate_state(
    setup: Setup, params, rng, settings, progress: bool = False, workdir=None, folder=None
) -> tuple[dict, np.ndarray | None]:
    """The figures config.eval enables among those the objective reports (`Objective.figures`), for
    one set of (EMA) parameters, and the pictures made (uint8 pixels for image data: samples, or an
    autoencoder's image/reconstruction pairs); `workdir` caches the reference statistics of FID,
    `folder` keeps the finished pieces of the bits/dim and sampling jobs (in likelihood/ and samples/)."""
    keys = jax.random.split(rng, 3)
    record, pictures = {}, None
    for figure in setup.objective.figures:
        switch, key, run = FIGURE_RUNS[figure]
        if switch and not settings[switch]:
            continue
        values, made = run(setup, params, rng if key < 0 else keys[key], settings, progress, workdir, folder)
        record.update(values)
        pictures = made if made is not None else pictures
    return record, pictures
