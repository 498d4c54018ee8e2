"""FD-fashion: the offline sample-quality figure of Fashion-MNIST.

A small CNN classifier trained here on the 60,000 Fashion-MNIST training images (28 x 28) ships
with the package (`fashion_classifier.npz`), with the feature statistics of the 10,000 test
images (`fashion_test_statistics.npz`), so that scoring samples needs neither the data nor a
download. Its 128-d penultimate features give the Frechet distance of samples to the test set
("FD-fashion") and its predictions give class coverage (`fashion_classes_covered`). Rebuild both
files with `python -m score_sde.evaluation.fashion` (needs the data; a few minutes on 2 CPU cores).
"""

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


def main() -> None:
    print(FASHION.rebuild())


if __name__ == "__main__":
    main()
