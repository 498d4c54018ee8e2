"""FD-digits: the offline sample-quality figure of the built-in digits.

A small CNN classifier trained on the 1,497 training digits (16 x 16) ships with the package
(`digits_classifier.npz`; rebuild it with `python -m score_sde.evaluation.digits`, a few seconds
on a CPU). Its 64-d penultimate features give a Frechet distance to the training digits
("FD-digits"), and its predictions give class coverage (`digit_classes_covered`).
"""

from pathlib import Path

import numpy as np

from score_sde.datasets.sources import load_digits
from score_sde.evaluation.classifier_fd import ConvClassifier, FeatureMetric, TrainingRecipe

IMAGE_SIZE = 16


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (N, 16, 16, 1) in [0, 1] and labels of split "train" or "test"."""
    source = load_digits(split, IMAGE_SIZE, 1)
    images, labels = source.get(np.arange(len(source)))
    return images.astype(np.float32) / 255.0, labels


DIGITS = FeatureMetric(
    name="digits",
    class_word="digit",
    network=ConvClassifier(image_size=IMAGE_SIZE, widths=(32, 64), feature_dim=64, num_classes=10),
    load_split=_digits,
    reference_split="train",
    weights=Path(__file__).with_name("digits_classifier.npz"),
    statistics=None,  # the 1,497 training digits are built in: their statistics are computed at each use
    recipe=TrainingRecipe(steps=800, batch_size=64, learning_rate=3e-3, max_shift=1),
    rebuild_command="python -m score_sde.evaluation.digits",
)


def load_classifier() -> dict:
    return DIGITS.load()


def accuracy(params: dict, split: str = "test") -> float:
    return DIGITS.accuracy(params, split)


def digit_metrics(images: np.ndarray, params: dict | None = None) -> dict:
    """fd_digits, digit_classes_covered and digit_class_fractions of images (N, H, W, C) in [0, 1]."""
    return DIGITS.metrics(images, params)


def main() -> None:
    print(DIGITS.rebuild())


if __name__ == "__main__":
    main()
