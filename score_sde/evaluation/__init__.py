"""Sample-quality evaluation: FID, Inception Score and KID with the FID Inception-v3, and the
offline FD-digits and FD-fashion metrics (`FEATURE_METRICS`, by dataset)."""

from score_sde.datasets import dataset_key
from score_sde.evaluation.classifier_fd import ConvClassifier, FeatureMetric, TrainingRecipe
from score_sde.evaluation.digits import DIGITS
from score_sde.evaluation.fashion import FASHION
from score_sde.evaluation.inception import InceptionV3, load_inception_params
from score_sde.evaluation.metrics import (
    finalize_inception_score,
    finalize_statistics,
    frechet_distance,
    init_inception_score,
    init_statistics,
    kernel_inception_distance,
    load_statistics,
    save_statistics,
    sqrtm_psd,
    update_inception_score,
    update_statistics,
)

# the offline feature-space metric of each dataset that has one, by `score_sde.datasets.dataset_key`
FEATURE_METRICS = {"digits": DIGITS, "fashion_mnist": FASHION}


def feature_metric(dataset: str) -> FeatureMetric | None:
    """The offline feature-space metric of dataset name `dataset` (`config.data.dataset`), or None."""
    return FEATURE_METRICS.get(dataset_key(dataset) or "")


__all__ = [
    "FEATURE_METRICS",
    "feature_metric",
    "FeatureMetric",
    "ConvClassifier",
    "TrainingRecipe",
    "DIGITS",
    "FASHION",
    "InceptionV3",
    "load_inception_params",
    "frechet_distance",
    "sqrtm_psd",
    "init_statistics",
    "update_statistics",
    "finalize_statistics",
    "init_inception_score",
    "update_inception_score",
    "finalize_inception_score",
    "kernel_inception_distance",
    "load_statistics",
    "save_statistics",
]
