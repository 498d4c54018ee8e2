"""FD-fashion: the offline sample-quality figure of Fashion-MNIST.

A small CNN classifier trained here on the 60,000 Fashion-MNIST training images (28 x 28) ships
with the package (`fashion_classifier.npz`), with the feature statistics of the 10,000 test
images (`fashion_test_statistics.npz`), so that scoring samples needs neither the data nor a
download. Its 128-d penultimate features give the Frechet distance of samples to the test set
("FD-fashion") and its predictions give class coverage (`fashion_classes_covered`). Rebuild both
files with `python -m score_sde.evaluation.fashion` (needs the data; a few minutes on 2 CPU cores).
"""

import sys
import time
from pathlib import Path

import numpy as np

from score_sde.datasets.idx import load_fashion_mnist
from score_sde.evaluation.classifier_fd import ConvClassifier, FeatureMetric, TrainingRecipe

IMAGE_SIZE = 28


def _fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (N, 28, 28, 1) in [0, 1] and labels of split "train" or "test"."""
    source = load_fashion_mnist("", split, IMAGE_SIZE, 1)
    return source.images.astype(np.float32) / 255.0, source.labels


FASHION = FeatureMetric(
    name="fashion",
    class_word="fashion",
    network=ConvClassifier(image_size=IMAGE_SIZE, widths=(32, 64), feature_dim=128, num_classes=10),
    load_split=_fashion,
    reference_split="test",
    weights=Path(__file__).with_name("fashion_classifier.npz"),
    statistics=Path(__file__).with_name("fashion_test_statistics.npz"),
    recipe=TrainingRecipe(steps=3000, batch_size=128, learning_rate=2e-3, max_shift=2, flips=True),
    rebuild_command="python -m score_sde.evaluation.fashion",
)


def fashion_metrics(images: np.ndarray, params: dict | None = None) -> dict:
    """fd_fashion, fashion_classes_covered and fashion_class_fractions of images (N, H, W, C) in [0, 1]."""
    return FASHION.metrics(images, params)


def main() -> None:
    start = time.time()
    params = FASHION.train()
    FASHION.save(params)
    print(
        f"trained in {time.time() - start:.1f} s; test accuracy {FASHION.accuracy(params):.4f} on the 10,000 test "
        f"images; written to {FASHION.weights} and {FASHION.statistics}"
    )


if __name__ == "__main__":
    sys.exit(main())
