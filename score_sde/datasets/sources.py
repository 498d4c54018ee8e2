"""Random-access image splits: built-in digits, a local image folder, tensorflow-datasets.

Every source answers `len(source)` and `source.get(indices) -> (images uint8 (n, S, S, C),
labels int32 (n,))` with images already at the configured size S; `num_classes` is 0 when
the data has no labels.
"""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from score_sde.datasets.images import resize, square_resize

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class ImageSource(Protocol):
    @property
    def num_classes(self) -> int: ...

    def __len__(self) -> int: ...

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class ArraySource:
    """A split held in memory: images uint8 (N, S, S, C), labels int32 (N,)."""

    images: np.ndarray
    labels: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return len(self.images)

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.images[indices], self.labels[indices]


def check_channels(found: int, wanted: int, what: str) -> None:
    if found != wanted:
        raise ValueError(f"config.data.num_channels={wanted}, but {what} has {found} channel(s)")


def load_digits(split: str, image_size: int, num_channels: int) -> ArraySource:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download), resized.

    A fixed shuffle (seed 0) puts 1,497 images in "train" and 300 in "test"; the 0..16
    intensities become 0..255 and are bilinearly resized to image_size x image_size.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    check_channels(1, num_channels, "the built-in 'digits' dataset")
    digits = sklearn_digits()
    order = np.random.default_rng(0).permutation(len(digits.images))
    chosen = {"train": order[300:], "test": order[:300]}
    if split not in chosen:
        raise ValueError(f"the 'digits' dataset has splits ('train', 'test'); got {split!r}")
    pixels = np.round(digits.images[chosen[split]] * (255.0 / 16.0)).astype(np.uint8)[..., None]
    images = np.stack([resize(p, image_size) for p in pixels])
    return ArraySource(images, digits.target[chosen[split]].astype(np.int32), num_classes=10)


def read_image(path: Path, num_channels: int, image_size: int) -> np.ndarray:
    with Image.open(path) as pil:
        pixels = np.asarray(pil.convert("L" if num_channels == 1 else "RGB"))
    return square_resize(pixels.reshape(*pixels.shape[:2], num_channels), image_size)


def load_folder(
    path: str | Path, split: str, image_size: int, num_channels: int, eval_fraction: float = 0.1
) -> ArraySource:
    """Images under `path`, read with Pillow (no TensorFlow), center-cropped square and resized.

    Layout: `path/<class>/*.png` (one folder per class, labels in sorted folder order) or
    `path/*.png` (unlabelled). If `path/train` and `path/test` exist they are the splits;
    otherwise a fixed shuffle (seed 0) holds out `eval_fraction` of the images as "test".
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"config.data.path={str(path)!r} is not a directory of images")
    if (root / "train").is_dir() and (root / "test").is_dir():
        return load_folder(root / split, "all", image_size, num_channels)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    folders = [(root / c, i) for i, c in enumerate(classes)] or [(root, 0)]
    files = [
        (f, label) for folder, label in folders for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise FileNotFoundError(
            f"config.data.path={str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}) directly or in "
            "one folder per class"
        )
    if split != "all":
        order = np.random.default_rng(0).permutation(len(files))
        held_out = max(1, int(round(eval_fraction * len(files))))
        if split not in ("train", "test"):
            raise ValueError(f"an image folder has splits ('train', 'test'); got {split!r}")
        files = [files[i] for i in sorted(order[held_out:] if split == "train" else order[:held_out])]
    images = np.stack([read_image(f, num_channels, image_size) for f, _ in files])
    labels = np.array([label for _, label in files], np.int32)
    return ArraySource(images, labels, num_classes=len(classes))


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """A prepared tensorflow-datasets split read through `tfds.data_source` (no TensorFlow)."""

    records: Any  # a tfds ArrayRecord data source: len() and __getitems__
    preprocess: Callable[[np.ndarray], np.ndarray]
    num_classes: int
    num_channels: int
    name: str

    def __len__(self) -> int:
        return len(self.records)

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        records = self.records.__getitems__([int(i) for i in indices])
        images = []
        for record in records:
            image = np.asarray(record["image"])
            check_channels(image.shape[-1], self.num_channels, f"tfds dataset {self.name!r}")
            images.append(self.preprocess(image))
        labels = np.array([int(record.get("label", 0)) for record in records], np.int32)
        return np.stack(images), labels


def network_reachable(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the tfds download host opens within `timeout` seconds."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_tfds(
    name: str,
    split: str,
    data_dir: str | None,
    download: bool,
    preprocess: Callable[[np.ndarray], np.ndarray],
    num_channels: int,
) -> TfdsSource:
    """Opens split `split` of tfds dataset `name`, preparing it (array_record) when allowed.

    Without a network (checked first, so offline runs fail in seconds, not after tfds's
    minutes of retries) or with download=False, an unprepared dataset is a clear error.
    """
    import tensorflow_datasets as tfds

    data_dir = os.path.expanduser(data_dir) if data_dir else None
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    if not builder.is_prepared():
        where = builder.data_dir
        alternatives = (
            "use data.dataset='digits' (built in, offline) or data.dataset='folder' with data.path=<a folder of images>"
        )
        if not download:
            raise FileNotFoundError(
                f"tfds dataset {name!r} is not prepared in {where} and config.data.download=False; prepare it "
                f"there, point config.data.data_dir at a prepared copy, or {alternatives}"
            )
        if not network_reachable():
            raise ConnectionError(
                f"tfds dataset {name!r} is not prepared in {where} and cannot be downloaded: no network. "
                f"Prepare it on a machine with network access and copy the folder, or {alternatives}"
            )
        try:
            builder.download_and_prepare(file_format="array_record")
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                f"preparing tfds dataset {name!r} needs {error.name}; install it (pip install 'score_sde[prepare]' "
                "adds TensorFlow) or prepare the dataset elsewhere"
            ) from error
    if split not in builder.info.splits:
        raise ValueError(f"tfds dataset {name!r} has splits {tuple(builder.info.splits)}; got {split!r}")
    features = builder.info.features
    label = features["label"] if "label" in features.keys() else None
    records = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    return TfdsSource(records, preprocess, getattr(label, "num_classes", 0) or 0, num_channels, name)
