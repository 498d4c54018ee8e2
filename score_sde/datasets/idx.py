"""Fashion-MNIST from its standard IDX files, read with numpy alone (no download, no TensorFlow).

The four files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte`, each gzipped or not) are where Debian's `dataset-fashion-mnist` package
puts them, or in the folder `config.data.path` names.
"""

import gzip
from pathlib import Path

import numpy as np

from score_sde.datasets.images import resize
from score_sde.datasets.sources import ArraySource, check_channels

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILE_PREFIX = {"train": "train", "test": "t10k"}
_HOW_TO_GET = (
    "install Debian's package (apt-get install dataset-fashion-mnist, which puts them in "
    f"{FASHION_MNIST_DIR}) or place the four files from the dataset's own site in a folder and set config.data.path"
)


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array of an IDX file (magic 0x0000 08 <ndim>, big-endian int32 sizes, then the
    bytes), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        payload = file.read()
    if len(payload) < 4 or payload[:2] != b"\x00\x00" or payload[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic 0x000008..)")
    ndim = payload[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(payload[4:header], ">i4"))
    if len(payload) - header != int(np.prod(shape)):
        raise ValueError(f"{path}: the header says shape {shape}, but {len(payload) - header} bytes follow it")
    return np.frombuffer(payload, np.uint8, offset=header).reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"Fashion-MNIST file {folder / stem}[.gz] not found: {_HOW_TO_GET}")


def load_fashion_mnist(path: str, split: str, image_size: int, num_channels: int) -> ArraySource:
    """Split "train" (60,000 images) or "test" (10,000) of Fashion-MNIST, uint8 28 x 28 gray,
    bilinearly resized to image_size; `path` "" means Debian's folder."""
    if split not in _FILE_PREFIX:
        raise ValueError(f"the 'fashion_mnist' dataset has splits {tuple(_FILE_PREFIX)}; got {split!r}")
    check_channels(1, num_channels, "the 'fashion_mnist' dataset")
    folder = Path(path or FASHION_MNIST_DIR).expanduser()
    images = read_idx(_idx_file(folder, f"{_FILE_PREFIX[split]}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(folder, f"{_FILE_PREFIX[split]}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"Fashion-MNIST in {folder}: {split} images of shape {images.shape} and labels of shape {labels.shape}; "
            "expected (N, 28, 28) and (N,)"
        )
    images = images[..., None]
    if image_size != images.shape[1]:
        images = np.stack([resize(image, image_size) for image in images])
    return ArraySource(np.ascontiguousarray(images), labels.astype(np.int32), num_classes=len(FASHION_MNIST_CLASSES))
