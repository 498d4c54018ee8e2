"""FD-digits: an offline sample-quality metric for the built-in digits, with no downloaded weights.

A small CNN classifier trained on the 1,497 training digits (16 x 16) ships with the package
(`digits_classifier.npz`; rebuild it with `python -m score_sde.evaluation.digits`, a few seconds
on a CPU). Its 64-d penultimate features give a Frechet distance to the training digits
("FD-digits", FID's recipe with a digit network), and its predictions give class coverage.
"""

import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from score_sde.datasets.sources import load_digits
from score_sde.evaluation.metrics import finalize_statistics, frechet_distance, init_statistics, update_statistics
from score_sde.files import write_npz_atomic

Array = jax.Array
WEIGHTS = Path(__file__).with_name("digits_classifier.npz")
IMAGE_SIZE = 16
FEATURE_DIM = 64
NUM_CLASSES = 10


class DigitsClassifier(nn.Module):
    """(B, H, W, C) images in [0, 1] -> (features (B, 64), logits (B, 10)); inputs are averaged
    over channels and resized to 16 x 16."""

    @nn.compact
    def __call__(self, images):
        x = jnp.mean(jnp.asarray(images, jnp.float32), axis=-1, keepdims=True)
        x = jax.image.resize(x, (x.shape[0], IMAGE_SIZE, IMAGE_SIZE, 1), "bilinear")
        for features in (32, 64):
            x = nn.relu(nn.Conv(features, (3, 3))(x))
            x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        features = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))
        return features, nn.Dense(NUM_CLASSES)(features)


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    source = load_digits(split, IMAGE_SIZE, 1)
    images, labels = source.get(np.arange(len(source)))
    return images.astype(np.float32) / 255.0, labels


def train_classifier(seed: int = 0, steps: int = 800, batch_size: int = 64) -> dict:
    """Adam on the training digits with random one-pixel shifts; returns the parameters.

    One jitted step per dispatch: XLA:CPU runs a convolution's gradient inside lax.scan
    about 20 times slower than the same step dispatched alone.
    """
    images, labels = _digits("train")
    model = DigitsClassifier()
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))["params"]
    optimizer = optax.adam(optax.cosine_decay_schedule(3e-3, steps))
    opt_state = optimizer.init(params)
    images, labels = jnp.asarray(images), jnp.asarray(labels)

    @jax.jit
    def step(params, opt_state, rng):
        index_rng, shift_rng = jax.random.split(rng)
        index = jax.random.choice(index_rng, images.shape[0], (batch_size,), replace=False)
        shift = jax.random.randint(shift_rng, (2,), -1, 2)
        batch = jnp.roll(images[index], shift, axis=(1, 2))

        def loss_fn(params):
            logits = model.apply({"params": params}, batch)[1]
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels[index]).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    for key in jax.random.split(jax.random.PRNGKey(seed + 1), steps):
        params, opt_state = step(params, opt_state, key)
    return params


def save_classifier(params: dict, path: Path = WEIGHTS) -> None:
    flat = {"/".join(k.key for k in path_): np.asarray(v) for path_, v in jax.tree_util.tree_leaves_with_path(params)}
    write_npz_atomic(path, **flat)


def load_classifier(path: Path = WEIGHTS) -> dict:
    """The shipped classifier's parameters (a missing file names the command that rebuilds it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"digits classifier {path} not found: build it with `python -m score_sde.evaluation.digits`"
        )
    params: dict = {}
    with np.load(path) as arrays:
        for key in arrays.files:
            node = params
            *parents, leaf = key.split("/")
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = jnp.asarray(arrays[key])
    return params


@jax.jit
def classify(params: dict, images: Array) -> tuple[Array, Array]:
    """(features (B, 64), logits (B, 10)) of images in [0, 1]."""
    return DigitsClassifier().apply({"params": params}, images)


def accuracy(params: dict, split: str = "test") -> float:
    images, labels = _digits(split)
    return float(np.mean(np.argmax(np.asarray(classify(params, images)[1]), -1) == labels))


def feature_statistics(
    params: dict, images: np.ndarray, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, covariance, predicted classes) of images in [0, 1], streamed in batches."""
    stats, predictions = init_statistics(FEATURE_DIM), []
    for start in range(0, len(images), batch_size):
        features, logits = classify(params, jnp.asarray(images[start : start + batch_size], jnp.float32))
        stats = update_statistics(stats, features)
        predictions.append(np.argmax(np.asarray(logits), -1))
    return (*finalize_statistics(stats), np.concatenate(predictions))


def figures(mu: np.ndarray, sigma: np.ndarray, class_counts: np.ndarray, params: dict) -> dict:
    """FD-digits of feature statistics (mu, sigma) against the training digits, and class coverage
    from predicted-class counts: digit_classes_covered (classes predicted for at least
    1 / (2 x 10) of the images) and the fraction of images per predicted class."""
    mu_ref, sigma_ref, _ = feature_statistics(params, _digits("train")[0])
    fractions = class_counts / max(1, class_counts.sum())
    return {
        "fd_digits": frechet_distance(mu, sigma, mu_ref, sigma_ref),
        "digit_classes_covered": int(np.sum(fractions >= 0.5 / NUM_CLASSES)),
        "digit_class_fractions": [round(float(f), 4) for f in fractions],
    }


def digit_metrics(images: np.ndarray, params: dict | None = None) -> dict:
    """`figures` for images (N, H, W, C) in [0, 1]."""
    params = load_classifier() if params is None else params
    mu, sigma, predicted = feature_statistics(params, np.asarray(images, np.float32))
    return figures(mu, sigma, np.bincount(predicted, minlength=NUM_CLASSES), params)


def main() -> None:
    start = time.time()
    params = train_classifier()
    save_classifier(params)
    print(
        f"trained in {time.time() - start:.1f} s; test accuracy {accuracy(params):.4f} on 300 held-out digits; "
        f"written to {WEIGHTS}"
    )


if __name__ == "__main__":
    sys.exit(main())
