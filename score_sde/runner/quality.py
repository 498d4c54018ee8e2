"""Sample-quality figures for a run's samples: FD-digits on the built-in digits, FID / IS / KID
with the Inception network when config.eval.inception_weights names its weight file.

Reference statistics of the dataset are computed once (`--mode fid_stats`, or on first use) and
cached in <workdir>/fid_stats/, or read from config.eval.fid_stats (an `.npz` with mu and sigma,
as pytorch-fid and others publish them; KID then needs the cached features and is left out).
"""

import logging
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from score_sde.datasets import get_image_source
from score_sde.evaluation import digits
from score_sde.evaluation.inception import FEATURE_DIM, NUM_LOGITS, InceptionV3, load_inception_params
from score_sde.evaluation.metrics import (finalize_inception_score, finalize_statistics, frechet_distance,
                                          init_inception_score, init_statistics, kernel_inception_distance,
                                          load_statistics, save_statistics, update_inception_score,
                                          update_statistics)

logger = logging.getLogger(__name__)


@jax.jit
def _inception_apply(params, images):
    return InceptionV3().apply({"params": params}, images)


def inception_outputs(params, read: Callable[[int, int], np.ndarray], total: int, batch_size: int,
                      num_kid_features: int, progress: bool = False, num_splits: int = 10) -> dict:
    """Streams `total` uint8 or [0, 1] images through Inception in fixed-size batches (the last
    one padded, so one compilation), read(start, stop) -> images (stop - start, H, W, C) giving
    them a batch at a time: running feature statistics, Inception-Score sums and the first
    `num_kid_features` features."""
    stats, score = init_statistics(FEATURE_DIM), init_inception_score(NUM_LOGITS, min(num_splits, total))
    kept = []
    for start in tqdm(range(0, total, batch_size), desc="inception", disable=not progress, leave=False):
        batch = np.asarray(read(start, min(start + batch_size, total)))
        count = len(batch)
        batch = batch.astype(np.float32) / 255.0 if batch.dtype == np.uint8 else batch.astype(np.float32)
        padded = np.concatenate([batch, np.zeros((batch_size - count, *batch.shape[1:]), np.float32)])
        features, logits = _inception_apply(params, jnp.asarray(padded))
        features, logits = features[:count], logits[:count]
        stats = update_statistics(stats, features)
        split = (start + jnp.arange(count)) * score["count"].shape[0] // total
        score = update_inception_score(score, logits, split)
        if sum(len(k) for k in kept) < num_kid_features:
            kept.append(np.asarray(features))
    kid_features = np.concatenate(kept)[:num_kid_features] if kept else np.zeros((0, FEATURE_DIM))
    return {"stats": stats, "score": score, "kid_features": kid_features}


def reference_statistics_path(config, workdir) -> Path:
    data = config.data
    split = str(config.eval.get("fid_split", "train"))
    name = str(data.dataset).replace("/", "_").replace(":", "_")
    return Path(workdir) / "fid_stats" / f"{name}_{split}_{int(data.image_size)}px.npz"


def compute_reference_statistics(config, inception_params, progress: bool = False) -> dict:
    """mu, sigma and KID features of config.eval.fid_split of the run's dataset (first
    config.eval.num_fid_examples images; 0: all)."""
    evaluation = config.eval
    split = str(evaluation.get("fid_split", "train"))
    if split not in ("train", "test"):
        raise ValueError(f"config.eval.fid_split={split!r}: choose from ('train', 'test')")
    source = get_image_source(config, "train" if split == "train" else "eval")
    total = min(int(evaluation.get("num_fid_examples", 0)) or len(source), len(source))
    outputs = inception_outputs(inception_params, lambda start, stop: source.get(np.arange(start, stop))[0], total,
                                int(evaluation.batch_size), int(evaluation.get("num_kid_features", 2000)), progress)
    mu, sigma = finalize_statistics(outputs["stats"])
    return {"mu": mu, "sigma": sigma, "kid_features": outputs["kid_features"], "count": total}


def reference_statistics(config, workdir, inception_params, progress: bool = False) -> dict:
    """config.eval.fid_stats if given, else the workdir's cache, computed and saved if missing."""
    given = str(config.eval.get("fid_stats", ""))
    if given:
        mu, sigma = load_statistics(given)
        return {"mu": mu, "sigma": sigma, "kid_features": None}
    path = reference_statistics_path(config, workdir)
    if not path.is_file():
        logger.info("computing reference statistics into %s", path)
        reference = compute_reference_statistics(config, inception_params, progress)
        if jax.process_index() == 0:
            save_statistics(path, reference["mu"], reference["sigma"], kid_features=reference["kid_features"],
                            count=reference["count"])
        return reference
    with np.load(path) as data:
        return {"mu": data["mu"], "sigma": data["sigma"], "kid_features": data["kid_features"]}


def inception_figures(config, workdir, pixels: np.ndarray, progress: bool = False) -> dict:
    """FID, Inception Score and KID of uint8 samples (N, H, W, C) against the dataset."""
    evaluation = config.eval
    params = load_inception_params(str(evaluation.inception_weights))
    reference = reference_statistics(config, workdir, params, progress)
    outputs = inception_outputs(params, lambda start, stop: pixels[start:stop], len(pixels),
                                int(evaluation.batch_size), int(evaluation.get("num_kid_features", 2000)), progress)
    mu, sigma = finalize_statistics(outputs["stats"])
    inception_score, inception_score_std = finalize_inception_score(outputs["score"])
    record = {"fid": frechet_distance(mu, sigma, reference["mu"], reference["sigma"]),
              "inception_score": inception_score, "inception_score_std": inception_score_std}
    if reference["kid_features"] is not None and len(reference["kid_features"]) > 1 and len(pixels) > 1:
        record["kid"], record["kid_std"] = kernel_inception_distance(outputs["kid_features"], reference["kid_features"])
    return record


def image_quality(config, workdir, pixels: np.ndarray, progress: bool = False) -> dict:
    """The figures available for uint8 image samples: FD-digits and class coverage on the digits
    dataset, FID / IS / KID when config.eval.inception_weights is set."""
    record = {}
    if str(config.data.dataset) == "digits":
        record.update(digits.digit_metrics(pixels.astype(np.float32) / 255.0))
    if str(config.eval.get("inception_weights", "")):
        if workdir is None:
            raise ValueError("FID needs a workdir to cache the dataset's reference statistics")
        record.update(inception_figures(config, workdir, pixels, progress))
    return record
