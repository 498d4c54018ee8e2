"""Sample-quality figures for a run's image samples, accumulated batch by batch as they are
drawn: FD-digits on the built-in digits and FD-fashion on Fashion-MNIST, FID / IS / KID with the Inception network when
config.eval.inception_weights names its weight file. Only running sums (and the first
config.eval.num_kid_features features, for KID) are kept, never all samples' features.

Reference statistics of the dataset are computed once (`--mode fid_stats`, or on first use) and
cached in <workdir>/fid_stats/, or read from config.eval.fid_stats (an `.npz` with mu and sigma,
as pytorch-fid and others publish them; KID then needs the cached features and is left out).
"""

import logging
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from score_sde.datasets import get_image_source
from score_sde.evaluation import feature_metric
from score_sde.evaluation.accumulators import FeatureAccumulator, InceptionAccumulator
from score_sde.evaluation.inception import load_inception_params
from score_sde.evaluation.metrics import (
    finalize_inception_score,
    finalize_statistics,
    frechet_distance,
    kernel_inception_distance,
    load_statistics,
    save_statistics,
)
from score_sde.settings import AT_LEAST_ONE, NON_NEGATIVE, Setting, choice

logger = logging.getLogger(__name__)

# from this image size up, the reference's FID uses TF-Hub's Inception feature vector instead
REFERENCE_FID_MAX_SIZE = 256


def reference_statistics_path(config, workdir) -> Path:
    data = config.data
    split = str(config.eval.fid_split)
    name = str(data.dataset).replace("/", "_").replace(":", "_")
    return Path(workdir) / "fid_stats" / f"{name}_{split}_{int(data.image_size)}px.npz"


def compute_reference_statistics(config, inception_params, progress: bool = False) -> dict:
    """mu, sigma and KID features of config.eval.fid_split of the run's dataset (first
    config.eval.num_fid_examples images; 0: all), read a batch at a time."""
    evaluation = config.eval
    split = str(evaluation.fid_split)
    source = get_image_source(config, "train" if split == "train" else "eval")
    total = min(int(evaluation.num_fid_examples) or len(source), len(source))
    batch_size = int(evaluation.batch_size)
    accumulator = InceptionAccumulator(inception_params, total, batch_size, int(evaluation.num_kid_features))
    for start in tqdm(range(0, total, batch_size), desc="reference statistics", disable=not progress, leave=False):
        accumulator.add(source.get(np.arange(start, min(start + batch_size, total)))[0])
    mu, sigma = finalize_statistics(accumulator.stats)
    return {"mu": mu, "sigma": sigma, "kid_features": accumulator.kept_features(), "count": total}


def reference_statistics(config, workdir, inception_params, progress: bool = False) -> dict:
    """config.eval.fid_stats if given, else the workdir's cache, computed and saved if missing."""
    given = str(config.eval.fid_stats)
    if given:
        mu, sigma = load_statistics(given)
        return {"mu": mu, "sigma": sigma, "kid_features": None}
    path = reference_statistics_path(config, workdir)
    if not path.is_file():
        logger.info("computing reference statistics into %s", path)
        reference = compute_reference_statistics(config, inception_params, progress)
        if jax.process_index() == 0:
            save_statistics(
                path,
                reference["mu"],
                reference["sigma"],
                kid_features=reference["kid_features"],
                count=reference["count"],
            )
        return reference
    with np.load(path) as data:
        return {"mu": data["mu"], "sigma": data["sigma"], "kid_features": data["kid_features"]}


class ImageQuality:
    """The figures available for a run's image samples, fed batch by batch (uint8 pixels):
    FD-digits / FD-fashion and class coverage on the digits / Fashion-MNIST, FID / IS / KID when
    config.eval.inception_weights is set (reference statistics as above)."""

    def __init__(self, config, workdir, total: int, progress: bool = False):
        evaluation = config.eval
        self.config, self.workdir, self.progress = config, workdir, progress
        metric = feature_metric(config.data.dataset)
        self.features = FeatureAccumulator(metric) if metric is not None else None
        self.inception = None
        if str(evaluation.inception_weights):
            if workdir is None:
                raise ValueError("FID needs a workdir to cache the dataset's reference statistics")
            self.inception = InceptionAccumulator(
                load_inception_params(str(evaluation.inception_weights)),
                total,
                int(evaluation.batch_size),
                int(evaluation.num_kid_features),
                num_splits=int(evaluation.inception_score_splits),
            )
            if int(config.data.image_size) >= REFERENCE_FID_MAX_SIZE:
                logger.warning(
                    "FID at %d px: the reference switches to TF-Hub's Inception feature vector at %d px and above, "
                    "which is not available here; these FIDs are not comparable with the reference's",
                    int(config.data.image_size),
                    REFERENCE_FID_MAX_SIZE,
                )

    def add(self, pixels: np.ndarray) -> None:
        for accumulator in (self.features, self.inception):
            if accumulator is not None:
                accumulator.add(pixels)

    def result(self) -> dict:
        record = self.features.result() if self.features is not None else {}
        if self.inception is not None:
            reference = reference_statistics(self.config, self.workdir, self.inception.params, self.progress)
            mu, sigma = finalize_statistics(self.inception.stats)
            inception_score, inception_score_std = finalize_inception_score(self.inception.score)
            record.update(
                {
                    "fid": frechet_distance(mu, sigma, reference["mu"], reference["sigma"]),
                    "inception_score": inception_score,
                    "inception_score_std": inception_score_std,
                    "inception_score_splits": int(self.inception.score["count"].shape[0]),
                    # the reference computes FID with this network only below 256 px
                    "fid_reference_comparable": int(self.config.data.image_size) < REFERENCE_FID_MAX_SIZE,
                }
            )
            kept = self.inception.kept_features()
            if reference["kid_features"] is not None and len(reference["kid_features"]) > 1 and len(kept) > 1:
                record["kid"], record["kid_std"] = kernel_inception_distance(kept, reference["kid_features"])
        return record


def image_quality(config, workdir, pixels: np.ndarray, progress: bool = False) -> dict:
    """ImageQuality's figures for uint8 samples (N, H, W, C) held in memory."""
    quality = ImageQuality(config, workdir, len(pixels), progress)
    quality.add(pixels)
    return quality.result()


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "eval.inception_weights": Setting(
        "", ('FID / IS / KID: the FID Inception weights file ("": leave these figures out)')
    ),
    "eval.fid_stats": Setting("", ('an .npz of reference mu / sigma ("": computed once into <workdir>/fid_stats)')),
    "eval.fid_split": Setting(
        "train", "the split the reference statistics describe: train or test", choice("train", "test")
    ),
    "eval.num_fid_examples": Setting(0, "images of that split (0: all)", NON_NEGATIVE),
    "eval.num_kid_features": Setting(2000, "features kept per set for KID", NON_NEGATIVE),
    "eval.inception_score_splits": Setting(
        1, "Inception Score over 1 set (the reference) or the common 10 splits", AT_LEAST_ONE
    ),
}
