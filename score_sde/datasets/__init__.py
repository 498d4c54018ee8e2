"""Datasets by name (`config.data.dataset`): 2-D toys, built-in digits, Fashion-MNIST's IDX files,
image folders, tfds.

`get_data(config)` returns a `Data`: how to get the training batches of a step, the
evaluation split, and how raw batches become model input on device.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import numpy as np

from score_sde.datasets import images as image_ops
from score_sde.datasets.idx import FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx
from score_sde.datasets.pipeline import BatchStream, eval_batches
from score_sde.datasets.sources import ArraySource, ImageSource, load_digits, load_folder, load_tfds
from score_sde.datasets.toy import TOY_DATASETS, checkerboard, eight_gaussians, get_toy_sampler, two_moons
from score_sde.settings import AT_LEAST_ONE, Setting, choice

Array = jax.Array

# name -> (tfds name, train split, eval split, preprocessing: image (H, W, C) uint8, size -> image)
TFDS_DATASETS: dict[str, tuple[str, str, str, Callable[..., np.ndarray]]] = {
    "cifar10": ("cifar10", "train", "test", image_ops.resize),
    "svhn": ("svhn_cropped", "train", "test", image_ops.resize),
    "celeba": ("celeb_a", "train", "validation", image_ops.reference_celeba),
    "lsun": ("lsun/{category}", "train", "validation", image_ops.reference_lsun),
    "mnist": ("mnist", "train", "test", image_ops.resize),
}
BUILT_IN = ("digits", "folder", "fashion_mnist")
DATASET_NAMES = tuple(sorted(TOY_DATASETS.names() + BUILT_IN + tuple(TFDS_DATASETS))) + ("tfds:<name>",)

__all__ = [
    "Data",
    "get_data",
    "dataset_key",
    "DATASET_NAMES",
    "image_data",
    "get_image_source",
    "TOY_DATASETS",
    "eight_gaussians",
    "checkerboard",
    "two_moons",
    "get_toy_sampler",
    "ArraySource",
    "load_fashion_mnist",
    "read_idx",
    "FASHION_MNIST_CLASSES",
    "BatchStream",
    "eval_batches",
]


def dataset_key(name: str) -> str | None:
    """The registry key of a dataset name (case and dashes ignored; tfds:<name> kept), or None."""
    key = str(name).lower().replace("-", "_")
    if key in TOY_DATASETS or key in BUILT_IN or key in TFDS_DATASETS:
        return key
    return "tfds:" + str(name)[5:] if key.startswith("tfds:") and len(key) > 5 else None


def _dataset_name(config) -> str:
    key = dataset_key(config.data.dataset)
    if key is None:
        raise ValueError(f"unknown dataset config.data.dataset={config.data.dataset!r}: choose from {DATASET_NAMES}")
    return key


def is_toy(config) -> bool:
    return _dataset_name(config) in TOY_DATASETS


def get_image_source(config, split: str) -> ImageSource:
    """Split "train" or "eval" of the image dataset named by `config.data.dataset`."""
    data = config.data
    name = _dataset_name(config)
    size, channels = int(data.image_size), int(data.num_channels)
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval'; got {split!r}")
    if name == "digits":
        return load_digits("train" if split == "train" else "test", size, channels)
    if name == "fashion_mnist":
        return load_fashion_mnist(data.path, "train" if split == "train" else "test", size, channels)
    if name == "folder":
        return load_folder(data.path, "train" if split == "train" else "test", size, channels)
    if name.startswith("tfds:"):
        tfds_name, train_split, eval_split, resize = name[5:], "train", "test", image_ops.square_resize
    else:
        tfds_name, train_split, eval_split, resize = TFDS_DATASETS[name]
        tfds_name = tfds_name.format(category=data.category)
    split_name = data[f"{split}_split"] or (train_split if split == "train" else eval_split)
    preprocess = functools.partial(resize, size=size)
    return load_tfds(tfds_name, split_name, data.data_dir or None, bool(data.download), preprocess, channels)


@dataclasses.dataclass(frozen=True)
class Data:
    """What the runner needs from a dataset.

    event_shape: shape of one example as the model sees it ((dim,) or (H, W, C)).
    train_batches(step, count): the raw batches of steps step..step+count-1, stacked, this
      process's slice (image data: numpy {"image", "label"}; toy data: the key of the step).
    model_input(rng, raw, train): raw batch -> float model input (B, *event_shape), on device.
    """

    name: str
    event_shape: tuple[int, ...]
    train_batches: Callable[[int, int], object]
    model_input: Callable[[Array, object, bool], Array]
    num_classes: int
    image: bool
    centered: bool


def get_data(config, process_index: int = 0, process_count: int = 1) -> Data:
    """The dataset of `config.data`, streaming `config.training.batch_size` examples per step."""
    name = _dataset_name(config)
    batch_size, seed = int(config.training.batch_size), int(config.seed)
    if name in TOY_DATASETS:
        dim = int(config.data.dim)
        if dim != 2:
            raise ValueError(f"config.data.dim={dim}: the toy datasets are 2-D")
        return Data(
            name,
            (2,),
            lambda step, count: np.arange(step, step + count, dtype=np.int32),
            _toy_model_input(name, seed, batch_size),
            0,
            image=False,
            centered=True,
        )
    return image_data(config, get_image_source(config, "train"), process_index, process_count)


def image_data(config, source: ImageSource, process_index: int = 0, process_count: int = 1) -> Data:
    """A `Data` streaming the training split `source` with the preprocessing of `config.data`."""
    data, name = config.data, _dataset_name(config)
    stream = BatchStream(source, int(config.training.batch_size), int(config.seed), process_index, process_count)
    preprocess = dict(centered=bool(data.centered), uniform_dequantization=bool(data.uniform_dequantization))

    def model_input(rng, raw, train):
        return image_ops.to_model_input(rng, raw["image"], random_flip=train and bool(data.random_flip), **preprocess)

    shape = (int(data.image_size), int(data.image_size), int(data.num_channels))
    return Data(name, shape, stream.batches, model_input, source.num_classes, image=True, centered=bool(data.centered))


def _toy_model_input(name: str, seed: int, batch_size: int):
    """Toy batches are drawn on device from the step number itself: fold_in(key(seed), step)."""
    sampler = TOY_DATASETS.get(name)
    base = jax.random.fold_in(jax.random.PRNGKey(seed), 0x70)

    def model_input(rng, step, train):
        del rng, train
        return sampler(jax.random.fold_in(base, step), batch_size)

    return model_input


def _known_dataset(name) -> str | None:
    return None if dataset_key(name) is not None else f"choose from {DATASET_NAMES}"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "data.dataset": Setting(
        "CIFAR10",
        (
            "digits, fashion_mnist (IDX files), folder, eight_gaussians, "
            "checkerboard, two_moons, CIFAR10, SVHN, CELEBA, LSUN, MNIST (tfds), or"
            " tfds:<name>"
        ),
        _known_dataset,
    ),
    "data.image_size": Setting(32, "images are resized to image_size x image_size", AT_LEAST_ONE),
    "data.num_channels": Setting(3, "1 (gray) or 3 (RGB)", choice(1, 3)),
    "data.centered": Setting(False, "model inputs in [-1, 1] (False: [0, 1])"),
    "data.random_flip": Setting(True, "horizontal flips in training"),
    "data.uniform_dequantization": Setting(False, "add U[0, 1) / 256 to the 8-bit pixels in training"),
    "data.dim": Setting(2, "2-D toy datasets: the dimension (2)", AT_LEAST_ONE),
    "data.path": Setting("", ("folder: the image folder; fashion_mnist: the IDX files' folder (\"\": Debian's)")),
    "data.data_dir": Setting("", 'tensorflow-datasets folder ("": ~/tensorflow_datasets)'),
    "data.download": Setting(True, "prepare a missing tfds dataset when the network answers"),
    "data.category": Setting("bedroom", "LSUN category"),
    "data.train_split": Setting("", 'tfds split for training ("": the dataset\'s usual one)'),
    "data.eval_split": Setting("", 'tfds split for evaluation ("": the dataset\'s usual one)'),
}
