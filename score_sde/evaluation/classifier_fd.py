"""Offline sample-quality figures in a small classifier's feature space (FID's recipe, no download).

A `FeatureMetric` names a small CNN classifier trained here on one dataset, whose weights ship
with the package. Its penultimate features give a Frechet distance between samples and the
dataset's reference split ("FD-digits", "FD-fashion"), and its predictions give class coverage.
"""

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from score_sde.evaluation.metrics import finalize_statistics, frechet_distance, init_statistics, update_statistics
from score_sde.files import write_npz_atomic

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


class ConvClassifier(nn.Module):
    """(B, H, W, C) images in [0, 1] -> (features (B, feature_dim), logits (B, num_classes)).

    Inputs are averaged over channels and resized to image_size x image_size; then a 3 x 3
    convolution, ReLU and 2 x 2 average pooling per entry of `widths`, and two dense layers.
    """

    image_size: int
    widths: tuple[int, ...]
    feature_dim: int
    num_classes: int

    @nn.compact
    def __call__(self, images):
        x = jnp.mean(jnp.asarray(images, jnp.float32), axis=-1, keepdims=True)
        x = jax.image.resize(x, (x.shape[0], self.image_size, self.image_size, 1), "bilinear")
        for features in self.widths:
            x = nn.relu(nn.Conv(features, (3, 3))(x))
            x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        features = nn.relu(nn.Dense(self.feature_dim)(x.reshape(x.shape[0], -1)))
        return features, nn.Dense(self.num_classes)(features)


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """Adam with a cosine decay from `learning_rate` over `steps` batches of `batch_size`, each
    batch shifted by up to `max_shift` pixels and, with `flips`, mirrored left-right at random."""

    steps: int
    batch_size: int
    learning_rate: float
    max_shift: int = 1
    flips: bool = False


@dataclasses.dataclass(frozen=True)
class FeatureMetric:
    """A Frechet distance in the feature space of `network` trained on one dataset.

    name: the figures' names, `fd_<name>`, `<class_word>_classes_covered`, `<class_word>_class_fractions`.
    load_split(split) -> (images float32 (N, S, S, 1) in [0, 1], labels int (N,)), split "train"/"test".
    reference_split: the split whose feature statistics samples are compared with.
    weights: the shipped parameters; statistics: the shipped reference statistics (None: the
      reference split is read and its statistics computed at each use).
    """

    name: str
    class_word: str
    network: ConvClassifier
    load_split: Callable[[str], tuple[np.ndarray, np.ndarray]]
    reference_split: str
    weights: Path
    statistics: Path | None
    recipe: TrainingRecipe
    rebuild_command: str

    def train(self, seed: int = 0) -> dict:
        """The classifier's parameters after `recipe` on the training split.

        One jitted step per dispatch: XLA:CPU runs a convolution's gradient inside lax.scan
        about 20 times slower than the same step dispatched alone.
        """
        recipe, network = self.recipe, self.network
        images, labels = (jnp.asarray(a) for a in self.load_split("train"))
        params = network.init(jax.random.PRNGKey(seed), images[:1])["params"]
        optimizer = optax.adam(optax.cosine_decay_schedule(recipe.learning_rate, recipe.steps))
        opt_state = optimizer.init(params)

        @jax.jit
        def step(params, opt_state, rng):
            index_rng, shift_rng = jax.random.split(rng)
            index = jax.random.choice(index_rng, images.shape[0], (recipe.batch_size,), replace=False)
            shift = jax.random.randint(shift_rng, (2,), -recipe.max_shift, recipe.max_shift + 1)
            batch = jnp.roll(images[index], shift, axis=(1, 2))
            if recipe.flips:
                flip = jax.random.bernoulli(jax.random.fold_in(shift_rng, 1), 0.5, (recipe.batch_size, 1, 1, 1))
                batch = jnp.where(flip, batch[:, :, ::-1], batch)

            def loss_fn(params):
                logits = network.apply({"params": params}, batch)[1]
                return optax.softmax_cross_entropy_with_integer_labels(logits, labels[index]).mean()

            updates, opt_state = optimizer.update(jax.grad(loss_fn)(params), opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        for key in jax.random.split(jax.random.PRNGKey(seed + 1), recipe.steps):
            params, opt_state = step(params, opt_state, key)
        return params

    def rebuild(self, seed: int = 0) -> str:
        """Trains the classifier, writes its files and says how long it took and how well it does."""
        start = time.time()
        params = self.train(seed)
        self.save(params)
        written = " and ".join(str(path) for path in (self.weights, self.statistics) if path is not None)
        test_size = len(self.load_split("test")[1])
        return (
            f"trained in {time.time() - start:.1f} s; test accuracy {self.accuracy(params):.4f} on {test_size:,} "
            f"held-out images; written to {written}"
        )

    def save(self, params: dict) -> None:
        """Writes the parameters to `weights` and, when the metric ships them, the reference
        split's statistics to `statistics` (both atomically)."""
        flat = {"/".join(k.key for k in path): np.asarray(v) for path, v in jax.tree_util.tree_leaves_with_path(params)}
        write_npz_atomic(self.weights, **flat)
        if self.statistics is not None:
            mu, sigma, _ = self.feature_statistics(params, self.load_split(self.reference_split)[0])
            write_npz_atomic(self.statistics, mu=mu, sigma=sigma)

    def load(self) -> dict:
        """The shipped classifier's parameters (a missing file names the command that rebuilds it)."""
        for path in (self.weights, self.statistics):
            if path is not None and not path.is_file():
                raise FileNotFoundError(
                    f"{self.name} classifier file {path} not found: build it with `{self.rebuild_command}`"
                )
        params: dict = {}
        with np.load(self.weights) as arrays:
            for key in arrays.files:
                node = params
                *parents, leaf = key.split("/")
                for name in parents:
                    node = node.setdefault(name, {})
                node[leaf] = jnp.asarray(arrays[key])
        return params

    def classify(self, params: dict, images: ArrayLike) -> tuple[Array, Array]:
        """(features (B, feature_dim), logits (B, num_classes)) of images in [0, 1]."""
        return _apply(self.network, params, jnp.asarray(images, jnp.float32))

    def accuracy(self, params: dict, split: str = "test") -> float:
        images, labels = self.load_split(split)
        predictions = [
            np.argmax(np.asarray(self.classify(params, images[start : start + 1000])[1]), -1)
            for start in range(0, len(images), 1000)
        ]
        return float(np.mean(np.concatenate(predictions) == labels))

    def feature_statistics(
        self, params: dict, images: np.ndarray, batch_size: int = 500
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, covariance, predicted classes) of images in [0, 1], streamed in batches."""
        stats, predictions = init_statistics(self.network.feature_dim), []
        for start in range(0, len(images), batch_size):
            features, logits = self.classify(params, images[start : start + batch_size])
            stats = update_statistics(stats, features)
            predictions.append(np.argmax(np.asarray(logits), -1))
        return (*finalize_statistics(stats), np.concatenate(predictions))

    def reference_statistics(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) of the reference split: shipped, or computed from the split."""
        if self.statistics is None:
            return self.feature_statistics(params, self.load_split(self.reference_split)[0])[:2]
        with np.load(self.statistics) as arrays:
            return arrays["mu"], arrays["sigma"]

    def figures(self, mu: np.ndarray, sigma: np.ndarray, class_counts: np.ndarray, params: dict) -> dict:
        """FD of feature statistics (mu, sigma) against the reference split, and class coverage
        from predicted-class counts: classes predicted for at least 1 / (2 x classes) of the
        images, and the fraction of images per predicted class."""
        num_classes = self.network.num_classes
        fractions = class_counts / max(1, class_counts.sum())
        return {
            f"fd_{self.name}": frechet_distance(mu, sigma, *self.reference_statistics(params)),
            f"{self.class_word}_classes_covered": int(np.sum(fractions >= 0.5 / num_classes)),
            f"{self.class_word}_class_fractions": [round(float(f), 4) for f in fractions],
        }

    def metrics(self, images: np.ndarray, params: dict | None = None) -> dict:
        """`figures` for images (N, H, W, C) in [0, 1]."""
        params = self.load() if params is None else params
        mu, sigma, predicted = self.feature_statistics(params, np.asarray(images, np.float32))
        return self.figures(mu, sigma, np.bincount(predicted, minlength=self.network.num_classes), params)


@functools.partial(jax.jit, static_argnums=0)
def _apply(network: ConvClassifier, params: dict, images: Array) -> tuple[Array, Array]:
    return cast(tuple[Array, Array], network.apply({"params": params}, images))
