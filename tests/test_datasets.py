import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from score_sde.bits_per_dim import pixel_levels
from score_sde.config import base_config
from score_sde.datasets import TFDS_DATASETS, BatchStream, eval_batches, get_data, get_image_source, sources
from score_sde.datasets.images import (
    center_crop,
    reference_celeba,
    reference_lsun,
    resize,
    to_model_input,
    to_uint8,
)
from score_sde.datasets.pipeline import check_batch_split, prefetch


def _config(dataset="digits", image_size=16, num_channels=1, **data):
    config = base_config()
    config.seed = 3
    config.training.batch_size = 8
    config.data.update(
        {
            "dataset": dataset,
            "image_size": image_size,
            "num_channels": num_channels,
            "centered": True,
            "random_flip": False,
            "uniform_dequantization": False,
            "download": False,
            **data,
        }
    )
    return config


def test_digits_are_the_real_handwritten_digits_split_without_overlap():
    from sklearn.datasets import load_digits

    train = get_image_source(_config(image_size=8), "train")
    test = get_image_source(_config(image_size=8), "eval")
    assert (len(train), len(test), train.num_classes) == (1497, 300, 10)
    assert train.images.dtype == np.uint8 and train.images.shape[1:] == (8, 8, 1)
    raw = load_digits()
    expected = np.round(raw.images * 255 / 16).astype(np.uint8)
    # every image of both splits is one of the originals, and the two splits share none
    index = {img.tobytes(): i for i, img in enumerate(expected)}
    train_ids = {index[img[..., 0].tobytes()] for img in train.images}
    test_ids = {index[img[..., 0].tobytes()] for img in test.images}
    assert len(train_ids) == 1497 and len(test_ids) == 300 and not train_ids & test_ids
    assert all(raw.target[index[img[..., 0].tobytes()]] == label for img, label in zip(test.images, test.labels))
    big = get_image_source(_config(image_size=32), "train")
    assert big.images.shape[1:] == (32, 32, 1)
    with pytest.raises(ValueError, match="config.data.num_channels=3.*'digits'.*1 channel"):
        get_image_source(_config(num_channels=3), "train")


def test_resize_and_crop_keep_what_they_should():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    np.testing.assert_array_equal(center_crop(image, 4), image[1:5, 2:6])
    flat = np.full((8, 8, 1), 77, np.uint8)
    np.testing.assert_array_equal(resize(flat, 5), np.full((5, 5, 1), 77))
    assert resize(image, 6).shape == (6, 6, 3)
    with pytest.raises(ValueError, match="cannot crop 7x7 from a 6x8"):
        center_crop(image, 7)


def test_model_input_scales_dequantizes_and_flips():
    pixels = np.random.default_rng(0).integers(0, 256, (64, 4, 4, 1)).astype(np.uint8)
    values = pixels.astype(np.float64)
    rng = jax.random.PRNGKey(0)
    plain = np.asarray(to_model_input(rng, pixels, centered=False, uniform_dequantization=False, random_flip=False))
    np.testing.assert_allclose(plain, values / 255.0, rtol=1e-6)
    centered = np.asarray(to_model_input(rng, pixels, centered=True, uniform_dequantization=False, random_flip=False))
    np.testing.assert_allclose(centered, 2 * values / 255.0 - 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(to_uint8(centered, centered=True, rule="round"), pixels)
    dequantized = np.asarray(
        to_model_input(rng, pixels, centered=False, uniform_dequantization=True, random_flip=False)
    )
    assert np.all(np.floor(dequantized * 256) == pixels)  # (k + u) / 256 stays in bin k
    assert 0.45 < np.mean(dequantized * 256 - values) < 0.55
    flipped = np.asarray(to_model_input(rng, pixels, centered=False, uniform_dequantization=False, random_flip=True))
    mirrored = np.all(flipped == plain[:, :, ::-1], axis=(1, 2, 3))
    unchanged = np.all(flipped == plain, axis=(1, 2, 3))
    assert np.all(mirrored | unchanged) and 16 < mirrored.sum() < 48


def test_samples_become_8_bit_by_the_reference_truncation_or_by_rounding():
    x = np.array([-0.1, 0.0, 0.5 / 255, 0.9 / 255, 254.6 / 255, 1.0, 1.2], np.float32).reshape(1, 7, 1, 1)
    truncated = to_uint8(x, centered=False, rule="truncate").ravel()
    np.testing.assert_array_equal(truncated, np.clip(x * 255, 0, 255).astype(np.uint8).ravel())  # the reference's
    np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 254, 255, 255])
    np.testing.assert_array_equal(to_uint8(x, centered=False, rule="round").ravel(), [0, 0, 0, 1, 255, 255, 255])
    np.testing.assert_array_equal(to_uint8(2 * x - 1, centered=True, rule="round").ravel(), [0, 0, 0, 1, 255, 255, 255])
    pixels = np.arange(7, dtype=np.uint8).reshape(1, 7, 1, 1)
    np.testing.assert_array_equal(to_uint8(pixels, centered=True, rule="truncate"), pixels)  # already 8-bit
    with pytest.raises(ValueError, match="config.sampling.to_uint8='floor'"):
        to_uint8(x, centered=False, rule="floor")


def test_celeba_and_lsun_are_resized_in_float_as_the_reference():
    """tf.image.resize(antialias=True) in the reference; jax.image.resize(antialias=True) is an
    independent implementation of the same filters."""
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)  # CelebA's size
    top, left = (218 - 140) // 2, (178 - 140) // 2
    window = jnp.asarray(face[top : top + 140, left : left + 140] / 255.0, jnp.float32)
    expected = jax.image.resize(window, (64, 64, 3), "linear", antialias=True)
    celeba = reference_celeba(face, 64)
    assert celeba.dtype == np.float32 and not np.all(celeba * 255 == np.round(celeba * 255))  # not rounded
    np.testing.assert_allclose(celeba, expected, atol=1e-5)
    room = rng.integers(0, 256, (256, 341, 3), dtype=np.uint8)
    shorter = jax.image.resize(jnp.asarray(room / 255.0, jnp.float32), (128, 170, 3), "linear", antialias=True)
    np.testing.assert_allclose(reference_lsun(room, 128), shorter[:, 21:149], atol=1e-5)  # resize_small, then crop
    square = jnp.asarray(room[:, 42:298], jnp.float32)
    bicubic = np.clip(np.asarray(jax.image.resize(square, (64, 64, 3), "cubic", antialias=True)), 0, 255)
    lsun = reference_lsun(room, 64)
    assert lsun.dtype == np.uint8 and np.mean(lsun == bicubic.astype(np.uint8)) > 0.999  # truncated, as tf.cast
    # float images enter the model as they are (no / 255), dequantised as (255 x + u) / 256
    rng_key = jax.random.PRNGKey(0)
    batch = jnp.asarray(celeba[None])
    plain = to_model_input(rng_key, batch, centered=False, uniform_dequantization=False, random_flip=False)
    np.testing.assert_array_equal(plain, batch)
    noisy = np.asarray(to_model_input(rng_key, batch, centered=False, uniform_dequantization=True, random_flip=False))
    u = noisy * 256 - np.asarray(batch) * 255
    assert u.min() >= -1e-4 and u.max() <= 1 + 1e-4 and 0.45 < u.mean() < 0.55
    np.testing.assert_allclose(pixel_levels(batch), np.asarray(batch) * 255, rtol=1e-6)  # for bits/dim
    np.testing.assert_array_equal(pixel_levels(jnp.asarray(face[None])), face[None])
    assert TFDS_DATASETS["celeba"][3] is reference_celeba and TFDS_DATASETS["lsun"][3] is reference_lsun


def test_batch_streams_are_deterministic_epoch_permutations_split_across_processes():
    source = sources.ArraySource(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1), np.arange(10, dtype=np.int32), 0)
    stream = BatchStream(source, global_batch_size=4, seed=1)
    epoch = np.concatenate([stream.indices(s) for s in range(5)])  # 20 positions: two epochs
    assert sorted(epoch[:10]) == list(range(10)) and sorted(epoch[10:]) == list(range(10))
    assert not np.array_equal(epoch[:10], epoch[10:])
    np.testing.assert_array_equal(BatchStream(source, 4, seed=1).indices(3), stream.indices(3))  # no hidden state
    halves = [BatchStream(source, 4, seed=1, process_index=i, process_count=2).indices(3) for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(halves), stream.indices(3))
    stacked = stream.batches(2, 3)
    assert stacked["image"].shape == (3, 4, 1, 1, 1) and stacked["label"].shape == (3, 4)
    np.testing.assert_array_equal(stacked["label"][1], stream.indices(3))
    batches = list(eval_batches(source, 3))
    assert [b["label"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(
        ValueError, match="config.training.batch_size=6 must be divisible by the number of devices \\(4"
    ):
        check_batch_split(6, 1, 4, "config.training.batch_size")


def test_prefetch_keeps_order_and_reraises():
    assert list(prefetch(lambda k: k * k, iter(range(6)))) == [0, 1, 4, 9, 16, 25]

    def failing(k):
        if k == 2:
            raise OSError("disk gone")
        return k

    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(failing, iter(range(5))))


def _write_png(path, value, size=(10, 12), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(np.full(shape, value, np.uint8), mode=mode).save(path)


def test_image_folders_with_classes_flat_and_with_splits(tmp_path):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(10):
            _write_png(tmp_path / "classes" / name / f"{i}.png", 10 * c + i)
    config = _config("folder", image_size=8, num_channels=3, path=str(tmp_path / "classes"))
    train, test = get_image_source(config, "train"), get_image_source(config, "eval")
    assert (len(train), len(test), train.num_classes) == (18, 2, 2)
    assert train.images.shape == (18, 8, 8, 3)
    values = {int(img[0, 0, 0]): int(label) for img, label in zip(train.images, train.labels)}
    assert all(label == value // 10 for value, label in values.items())
    for i in range(3):
        _write_png(tmp_path / "flat" / f"{i}.jpg", 50, mode="L")
    flat = get_image_source(_config("folder", image_size=4, path=str(tmp_path / "flat")), "train")
    assert flat.images.shape == (2, 4, 4, 1) and flat.num_classes == 0
    for split, n in (("train", 4), ("test", 2)):
        for i in range(n):
            _write_png(tmp_path / "split" / split / f"{i}.png", 5)
    config = _config("folder", image_size=8, num_channels=3, path=str(tmp_path / "split"))
    assert (len(get_image_source(config, "train")), len(get_image_source(config, "eval"))) == (4, 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.data.path=.*holds no images"):
        get_image_source(_config("folder", path=str(tmp_path / "empty")), "train")
    with pytest.raises(FileNotFoundError, match="config.data.path='/nonexistent' is not a directory"):
        get_image_source(_config("folder", path="/nonexistent"), "train")


def test_unknown_dataset_names_the_field_and_the_choices():
    with pytest.raises(
        ValueError, match="unknown dataset config.data.dataset='imagenet42': choose from .*cifar10.*digits"
    ):
        get_data(_config("imagenet42"))


def _make_builder(tmp_path):
    """A tfds GeneratorBasedBuilder over the built-in digits, prepared as array_record offline."""
    import tensorflow_datasets as tfds
    from sklearn.datasets import load_digits

    class ScoreSdeTestDigits(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                        "label": tfds.features.ClassLabel(num_classes=10),
                    }
                ),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(0, 100), "test": self._generate_examples(100, 130)}

        def _generate_examples(self, start, stop):
            digits = load_digits()
            for i in range(start, stop):
                image = np.round(digits.images[i] * 255 / 16).astype(np.uint8)[..., None]
                yield i, {"image": image, "label": int(digits.target[i])}

    builder = ScoreSdeTestDigits(data_dir=str(tmp_path), file_format="array_record")
    builder.download_and_prepare(file_format="array_record")
    return load_digits()


def test_a_prepared_tfds_dataset_is_read_without_tensorflow(tmp_path):
    digits = _make_builder(tmp_path)
    config = _config("tfds:score_sde_test_digits", image_size=8, data_dir=str(tmp_path))
    train, test = get_image_source(config, "train"), get_image_source(config, "eval")
    assert (len(train), len(test), train.num_classes) == (100, 30, 10)
    images, labels = test.get(np.arange(30))
    expected = np.round(digits.images[100:130] * 255 / 16).astype(np.uint8)[..., None]
    # tfds stores a split in its own (hashed) order: compare as sets of (image, label)
    as_set = lambda imgs, labs: sorted((img.tobytes(), int(lab)) for img, lab in zip(imgs, labs))
    assert as_set(images, labels) == as_set(expected, digits.target[100:130])
    resized = get_image_source(_config("tfds:score_sde_test_digits", image_size=16, data_dir=str(tmp_path)), "train")
    assert resized.get(np.array([0]))[0].shape == (1, 16, 16, 1)
    data = get_data(_config("tfds:score_sde_test_digits", image_size=8, data_dir=str(tmp_path)))
    batch = data.train_batches(0, 2)
    assert batch["image"].shape == (2, 8, 8, 8, 1) and data.num_classes == 10


def test_an_unprepared_named_dataset_fails_fast_and_says_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="'mnist' is not prepared in .*download=False.*'digits'.*'folder'"):
        get_image_source(_config("mnist", data_dir=str(tmp_path)), "train")
    monkeypatch.setattr(sources, "network_reachable", lambda *a, **k: False)
    with pytest.raises(ConnectionError, match="'cifar10' is not prepared .*cannot be downloaded: no network"):
        get_image_source(_config("CIFAR10", num_channels=3, data_dir=str(tmp_path), download=True), "train")
