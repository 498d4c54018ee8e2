"""Streaming accumulators of sample-quality statistics: images are added batch by batch and
only running sums (and the first features, for KID) are kept, never all features."""

import jax.numpy as jnp
import numpy as np

from score_sde.evaluation.classifier_fd import FeatureMetric
from score_sde.evaluation.inception import FEATURE_DIM, NUM_LOGITS, inception_apply
from score_sde.evaluation.metrics import (
    finalize_statistics,
    init_inception_score,
    init_statistics,
    update_inception_score,
    update_statistics,
)


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
        self.seen, self.kid_features = 0, list[np.ndarray]()

    def add(self, pixels: np.ndarray) -> None:
        for start in range(0, len(pixels), self.batch_size):
            batch = _unit_range(pixels[start : start + self.batch_size])
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


class FeatureAccumulator:
    """A metric's feature statistics and predicted-class counts of images added batch by batch
    (uint8 pixels or floats in [0, 1])."""

    def __init__(self, metric: FeatureMetric):
        self.metric, self.params = metric, metric.load()
        self.stats = init_statistics(metric.network.feature_dim)
        self.class_counts = np.zeros(metric.network.num_classes, np.int64)

    def add(self, pixels: np.ndarray) -> None:
        features, logits = self.metric.classify(self.params, _unit_range(pixels))
        self.stats = update_statistics(self.stats, features)
        self.class_counts += np.bincount(np.argmax(np.asarray(logits), -1), minlength=len(self.class_counts))

    def result(self) -> dict:
        mu, sigma = finalize_statistics(self.stats)
        return self.metric.figures(mu, sigma, self.class_counts, self.params)
