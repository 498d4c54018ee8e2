"""Sample-quality figures for a run's image samples, accumulated batch by batch as they are
drawn: FD-digits on the built-in digits, FID / IS / KID with the Inception network when
config.eval.inception_weights names its weight file. Only running sums (and the first
config.eval.num_kid_features features, for KID) are kept, never all samples' features.

Reference statistics of the dataset are computed once (`--mode fid_stats`, or on first use) and
cached in <workdir>/fid_stats/, or read from config.eval.fid_stats (an `.npz` with mu and sigma,
as pytorch-fid and others publish them; KID then needs the cached features and is left out).
"""

import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from score_sde.datasets import get_image_source
from score_sde.evaluation import digits
from score_sde.evaluation.inception import FEATURE_DIM, NUM_LOGITS, inception_apply, load_inception_params
from score_sde.evaluation.metrics import (finalize_inception_score, finalize_statistics, frechet_distance,
                                          init_inception_score, init_statistics, kernel_inception_distance,
                                          load_statistics, save_statistics, update_inception_score,
                                          update_statistics)

logger = logging.getLogger(__name__)


def _unit_range(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels.astype(np.float32)


class InceptionAccumulator:
    """Feature statistics, Inception-Score sums (num_splits splits of `total` images, in order)
    and the first `num_kid_features` features of uint8 or [0, 1] images added batch by batch.
    Batches are padded to `batch_size`, so Inception compiles once."""

    def __init__(self, params, total: int, batch_size: int, num_kid_features: int, num_splits: int = 10):
        self.params, self.total, self.batch_size, self.num_kid_features = params, total, batch_size, num_kid_features
        self.stats = init_statistics(FEATURE_DIM)
        self.score = init_inception_score(NUM_LOGITS, min(num_splits, total))
        self.seen, self.kid_features = 0, []

    def add(self, pixels: np.ndarray) -> None:
        for start in range(0, len(pixels), self.batch_size):
            batch = _unit_range(pixels[start: start + self.batch_size])
            count = len(batch)
            padded = np.concatenate([batch, np.zeros((self.batch_size - count, *batch.shape[1:]), np.float32)])
            features, logits = inception_apply(self.params, jnp.asarray(padded))
            features, logits = features[:count], logits[:count]
            self.stats = update_statistics(self.stats, features)
            split = (self.seen + jnp.arange(count)) * self.score["count"].shape[0] // self.total
            self.score = update_inception_score(self.score, logits, split)
            if sum(len(k) for k in self.kid_features) < self.num_kid_features:
                self.kid_features.append(np.asarray(features))
            self.seen += count

    def kept_features(self) -> np.ndarray:
        if not self.kid_features:
            return np.zeros((0, FEATURE_DIM), np.float32)
        return np.concatenate(self.kid_features)[: self.num_kid_features]


class DigitsAccumulator:
    """FD-digits statistics and predicted-class counts of images added batch by batch."""

    def __init__(self):
        self.params = digits.load_classifier()
        self.stats = init_statistics(digits.FEATURE_DIM)
        self.class_counts = np.zeros(digits.NUM_CLASSES, np.int64)

    def add(self, pixels: np.ndarray) -> None:
        features, logits = digits.classify(self.params, jnp.asarray(_unit_range(pixels)))
        self.stats = update_statistics(self.stats, features)
        self.class_counts += np.bincount(np.argmax(np.asarray(logits), -1), minlength=digits.NUM_CLASSES)

    def result(self) -> dict:
        mu, sigma = finalize_statistics(self.stats)
        return digits.figures(mu, sigma, self.class_counts, self.params)


def reference_statistics_path(config, workdir) -> Path:
    data = config.data
    split = str(config.eval.get("fid_split", "train"))
    name = str(data.dataset).replace("/", "_").replace(":", "_")
    return Path(workdir) / "fid_stats" / f"{name}_{split}_{int(data.image_size)}px.npz"


def compute_reference_statistics(config, inception_params, progress: bool = False) -> dict:
    """mu, sigma and KID features of config.eval.fid_split of the run's dataset (first
    config.eval.num_fid_examples images; 0: all), read a batch at a time."""
    evaluation = config.eval
    split = str(evaluation.get("fid_split", "train"))
    if split not in ("train", "test"):
        raise ValueError(f"config.eval.fid_split={split!r}: choose from ('train', 'test')")
    source = get_image_source(config, "train" if split == "train" else "eval")
    total = min(int(evaluation.get("num_fid_examples", 0)) or len(source), len(source))
    batch_size = int(evaluation.batch_size)
    accumulator = InceptionAccumulator(inception_params, total, batch_size, int(evaluation.get("num_kid_features", 2000)))
    for start in tqdm(range(0, total, batch_size), desc="reference statistics", disable=not progress, leave=False):
        accumulator.add(source.get(np.arange(start, min(start + batch_size, total)))[0])
    mu, sigma = finalize_statistics(accumulator.stats)
    return {"mu": mu, "sigma": sigma, "kid_features": accumulator.kept_features(), "count": total}


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


class ImageQuality:
    """The figures available for a run's image samples, fed batch by batch (uint8 pixels):
    FD-digits and class coverage on the digits dataset, FID / IS / KID when
    config.eval.inception_weights is set (reference statistics as above)."""

    def __init__(self, config, workdir, total: int, progress: bool = False):
        evaluation = config.eval
        self.config, self.workdir, self.progress = config, workdir, progress
        self.digits = DigitsAccumulator() if str(config.data.dataset) == "digits" else None
        self.inception = None
        if str(evaluation.get("inception_weights", "")):
            if workdir is None:
                raise ValueError("FID needs a workdir to cache the dataset's reference statistics")
            self.inception = InceptionAccumulator(load_inception_params(str(evaluation.inception_weights)), total,
                                                  int(evaluation.batch_size),
                                                  int(evaluation.get("num_kid_features", 2000)))

    def add(self, pixels: np.ndarray) -> None:
        for accumulator in (self.digits, self.inception):
            if accumulator is not None:
                accumulator.add(pixels)

    def result(self) -> dict:
        record = self.digits.result() if self.digits is not None else {}
        if self.inception is not None:
            reference = reference_statistics(self.config, self.workdir, self.inception.params, self.progress)
            mu, sigma = finalize_statistics(self.inception.stats)
            inception_score, inception_score_std = finalize_inception_score(self.inception.score)
            record.update({"fid": frechet_distance(mu, sigma, reference["mu"], reference["sigma"]),
                           "inception_score": inception_score, "inception_score_std": inception_score_std})
            kept = self.inception.kept_features()
            if reference["kid_features"] is not None and len(reference["kid_features"]) > 1 and len(kept) > 1:
                record["kid"], record["kid_std"] = kernel_inception_distance(kept, reference["kid_features"])
        return record


def image_quality(config, workdir, pixels: np.ndarray, progress: bool = False) -> dict:
    """ImageQuality's figures for uint8 samples (N, H, W, C) held in memory."""
    quality = ImageQuality(config, workdir, len(pixels), progress)
    quality.add(pixels)
    return quality.result()
