"""Fashion-MNIST: the IDX reader on files the tests write, the configs, and FD-fashion. The tests on
the real data (slow tier) install Debian's package where they can and skip where they cannot."""

import gzip
import importlib
import os
import shutil
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.config import base_config
from score_sde.datasets import dataset_key, get_data, get_image_source, read_idx
from score_sde.datasets.idx import FASHION_MNIST_DIR
from score_sde.evaluation import FASHION, FEATURE_METRICS
from score_sde.evaluation.image_quality import image_quality
from score_sde.runner.config_check import check_config
from score_sde.runner.setup import build

FASHION_CONFIGS = [f"fashion_mnist.{name}{size}" for name in ("vp", "edm", "flow", "vdm") for size in ("", "_full")]


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    payload = header + np.ascontiguousarray(array, np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as file:
            file.write(payload)
    else:
        path.write_bytes(payload)


def _small_fashion_mnist(folder: Path, rng, compress: bool = True) -> dict:
    """Writes 12 training and 5 test images (28 x 28) with labels as the four IDX files."""
    splits = {}
    for prefix, count in (("train", 12), ("t10k", 5)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, (count,), dtype=np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
        splits[prefix] = (images, labels)
    return splits


def _config(path: Path, image_size: int = 28):
    config = base_config()
    config.training.batch_size = 4
    config.data.update(dataset="fashion_mnist", path=str(path), image_size=image_size, num_channels=1)
    return config


@pytest.mark.parametrize("compress", [True, False])
def test_the_idx_reader_returns_the_files_images_and_labels(tmp_path, compress):
    written = _small_fashion_mnist(tmp_path, np.random.default_rng(0), compress)
    for split, prefix in (("train", "train"), ("eval", "t10k")):
        source = get_image_source(_config(tmp_path), split)
        images, labels = source.get(np.arange(len(source)))
        np.testing.assert_array_equal(images[..., 0], written[prefix][0])
        np.testing.assert_array_equal(labels, written[prefix][1].astype(np.int32))
        assert images.dtype == np.uint8 and labels.dtype == np.int32 and source.num_classes == 10
    resized = get_image_source(_config(tmp_path, image_size=16), "train").get(np.arange(3))[0]
    assert resized.shape == (3, 16, 16, 1)
    data = get_data(_config(tmp_path))
    assert data.event_shape == (28, 28, 1) and data.num_classes == 10 and data.image
    assert dataset_key("Fashion-MNIST") == "fashion_mnist"


def test_a_missing_or_broken_idx_file_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        get_image_source(_config(tmp_path), "train")
    message = str(missing.value)
    assert str(tmp_path / "train-images-idx3-ubyte") in message
    assert "apt-get install dataset-fashion-mnist" in message and "config.data.path" in message
    _small_fashion_mnist(tmp_path, np.random.default_rng(1), compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="the header says shape"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x0d\x01" + bytes(8))  # float32 elements: not this dataset's format
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        read_idx(path)
    config = _config(tmp_path)
    config.data.num_channels = 3
    with pytest.raises(ValueError, match="config.data.num_channels=3"):
        get_image_source(config, "eval")


@pytest.mark.parametrize("name", FASHION_CONFIGS)
def test_the_fashion_mnist_configs_pass_their_checks_and_their_network_keeps_28_pixels(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    check_config(config)
    assert (config.data.dataset, config.data.image_size, config.data.num_channels) == ("fashion_mnist", 28, 1)
    setup = build(config, with_data=False)
    assert setup.event_shape == (28, 28, 1)
    assert jax.tree_util.tree_leaves(setup.abstract_params())  # initialisation traces the network at 28 x 28


def test_fashion_runs_are_scored_by_fd_fashion_without_the_data():
    """The shipped classifier and test-set statistics are all a run's evaluation needs."""
    assert FEATURE_METRICS["fashion_mnist"] is FASHION
    config = _config(Path("/nonexistent"))
    pixels = np.random.default_rng(2).integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    record = image_quality(config, None, pixels)
    assert set(record) >= {"fd_fashion", "fashion_classes_covered", "fashion_class_fractions"}
    assert record["fd_fashion"] > 0 and sum(record["fashion_class_fractions"]) == pytest.approx(1, abs=1e-3)


@pytest.fixture(scope="module")
def fashion_mnist_installed():
    """Debian's dataset-fashion-mnist: installed here as root when apt-get can, else a skip."""
    if not Path(FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz").is_file():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip(f"Fashion-MNIST is not in {FASHION_MNIST_DIR} and apt-get cannot install it here (not root)")
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0 and command[1] == "install":
                pytest.skip(f"apt-get install dataset-fashion-mnist failed: {done.stderr.strip()[-300:]}")
    return Path(FASHION_MNIST_DIR)


@pytest.mark.slow
def test_the_real_files_have_the_datasets_sizes_and_classes(fashion_mnist_installed):
    config = _config("")
    train, test = (get_image_source(config, split) for split in ("train", "eval"))
    assert (len(train), len(test)) == (60000, 10000)
    labels = test.get(np.arange(len(test)))[1]
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))  # 1,000 test images per class


@pytest.mark.slow
def test_the_shipped_classifier_and_statistics_are_those_of_the_real_test_set(fashion_mnist_installed):
    params = FASHION.load()
    assert FASHION.accuracy(params, "test") >= 0.90
    test_images = FASHION.load_split("test")[0]
    mu, sigma, _ = FASHION.feature_statistics(params, test_images)
    shipped_mu, shipped_sigma = FASHION.reference_statistics(params)
    np.testing.assert_allclose(shipped_mu, mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(shipped_sigma, sigma, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_fd_fashion_ranks_held_out_images_far_below_blurred_images_below_noise(fashion_mnist_installed):
    """1,000 training images (held out from the test statistics) << the same images blurred
    << uniform noise; real images cover the 10 classes."""
    params = FASHION.load()
    real = FASHION.load_split("train")[0][:1000]
    blurred = np.asarray(
        jax.image.resize(jax.image.resize(jnp.asarray(real), (1000, 7, 7, 1), "linear"), real.shape, "linear")
    )
    noise = np.random.default_rng(3).uniform(size=real.shape).astype(np.float32)
    figures = [FASHION.metrics(x, params) for x in (real, blurred, noise)]
    fd_real, fd_blurred, fd_noise = (f["fd_fashion"] for f in figures)
    assert 5 * fd_real < fd_blurred < fd_noise
    assert figures[0]["fashion_classes_covered"] == 10 and figures[2]["fashion_classes_covered"] < 10
