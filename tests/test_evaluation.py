import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from score_sde.datasets import get_image_source
from score_sde.evaluation import digits
from score_sde.evaluation.image_quality import image_quality, reference_statistics_path
from score_sde.evaluation.inception import InceptionV3, inception_apply, load_inception_params, params_from_state_dict
from score_sde.evaluation.metrics import (
    finalize_inception_score,
    finalize_statistics,
    frechet_distance,
    init_inception_score,
    init_statistics,
    kernel_inception_distance,
    load_statistics,
    save_statistics,
    sqrtm_psd,
    update_inception_score,
    update_statistics,
)
from score_sde.runner import fid_stats
from tests.runner_helpers import tiny_image_config

FIXTURES = Path(__file__).parent / "fixtures"


def _random_spd(rng, dim):
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def _streamed(features, batch_sizes):
    stats, start = init_statistics(features.shape[1]), 0
    for size in batch_sizes:
        stats = update_statistics(stats, jnp.asarray(features[start : start + size]))
        start += size
    return finalize_statistics(stats)


def test_matrix_square_root_agrees_with_scipy():
    rng = np.random.default_rng(0)
    for dim in (2, 16, 64):
        matrix = _random_spd(rng, dim)
        np.testing.assert_allclose(sqrtm_psd(matrix), np.real(scipy.linalg.sqrtm(matrix)), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(sqrtm_psd(matrix) @ sqrtm_psd(matrix), matrix, rtol=1e-9, atol=1e-12)


def test_frechet_distance_agrees_with_the_scipy_formula_and_is_zero_on_itself():
    """pytorch-fid computes tr sqrtm(S1 S2) with scipy on the non-symmetric product."""
    rng = np.random.default_rng(1)
    for dim in (3, 32):
        mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
        s1, s2 = _random_spd(rng, dim), _random_spd(rng, dim)
        covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
        np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), expected, rtol=1e-8)
        assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-9 * np.trace(s1)
    with pytest.raises(ValueError, match="means"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_fid_of_gaussian_samples_matches_the_closed_form():
    """Diagonal covariances commute: FD = |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2 exactly."""
    rng = np.random.default_rng(2)
    dim, n = 8, 200_000
    m1, m2 = rng.normal(size=dim), rng.normal(size=dim)
    a, b = rng.uniform(0.2, 2.0, dim), rng.uniform(0.2, 2.0, dim)
    x = m1 + np.sqrt(a) * rng.normal(size=(n, dim))
    y = m2 + np.sqrt(b) * rng.normal(size=(n, dim))
    closed = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    estimated = frechet_distance(*_streamed(x, [50_000] * 4), *_streamed(y, [70_000, 30_000, 100_000]))
    np.testing.assert_allclose(estimated, closed, rtol=0.01)
    same = frechet_distance(*_streamed(x[:100_000], [100_000]), *_streamed(x[100_000:], [100_000]))
    assert same < 0.01 * closed


def test_streamed_statistics_equal_numpy_over_uneven_batches():
    rng = np.random.default_rng(3)
    features = (5.0 + rng.normal(size=(1000, 6)) @ rng.normal(size=(6, 6))).astype(np.float32)
    mu, sigma = _streamed(features, [1, 300, 7, 692])
    np.testing.assert_allclose(mu, features.mean(0), rtol=1e-5)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-4, atol=1e-5)


def test_statistics_files_round_trip_and_are_checked(tmp_path):
    save_statistics(tmp_path / "stats.npz", np.ones(3), np.eye(3))
    mu, sigma = load_statistics(tmp_path / "stats.npz")
    np.testing.assert_array_equal(mu, 1.0) and np.testing.assert_array_equal(sigma, np.eye(3))
    np.savez(tmp_path / "bad.npz", mean=np.ones(3))
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        load_statistics(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="fid_stats"):
        load_statistics(tmp_path / "missing.npz")


def test_inception_score_closed_forms():
    """Uniform predictions give IS 1; confident predictions spread evenly over K classes give K."""
    k, n, splits = 7, 700, 10
    split = jnp.arange(n) * splits // n
    flat = finalize_inception_score(update_inception_score(init_inception_score(k, splits), jnp.zeros((n, k)), split))
    np.testing.assert_allclose(flat, (1.0, 0.0), atol=1e-6)
    confident = 50.0 * jax.nn.one_hot(jnp.arange(n) % k, k)
    state = init_inception_score(k, splits)
    for part in range(0, n, 100):  # streamed in batches
        state = update_inception_score(state, confident[part : part + 100], split[part : part + 100])
    mean, std = finalize_inception_score(state)
    np.testing.assert_allclose(mean, k, rtol=1e-4)
    assert std < 1e-3


def _numpy_inception_score(logits):
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), axis=1))))


@pytest.mark.parametrize("splits, image_size", [(10, 8), (1, 256)])
def test_inception_score_splits_follow_the_config_and_large_fids_are_not_labelled_comparable(
    monkeypatch, caplog, splits, image_size
):
    """config.eval.inception_score_splits=1 is the reference's one score over all samples (std 0);
    10 is the mean and std over 10 consecutive splits. At 256 px and above the reference uses
    another FID network, so the record says the FID is not comparable and a warning says why."""
    from score_sde.evaluation import accumulators
    from score_sde.evaluation import image_quality as quality_module

    logits = 3.0 * np.random.default_rng(0).normal(size=(40, 1008)).astype(np.float32)
    served = iter(np.split(logits, 4))  # four batches of 10 images
    fake_inception = lambda params, images: (jnp.zeros((len(images), 2048)), jnp.asarray(next(served)))
    monkeypatch.setattr(accumulators, "inception_apply", fake_inception)
    monkeypatch.setattr(quality_module, "load_inception_params", lambda path: None)
    stats = {"mu": np.zeros(2048), "sigma": np.eye(2048), "kid_features": None}
    monkeypatch.setattr(quality_module, "reference_statistics", lambda *args: stats)
    monkeypatch.setattr(quality_module, "frechet_distance", lambda *args: 0.0)  # 2048-d sqrtm: tested above
    config = tiny_image_config()
    config.data.dataset = "CIFAR10"  # no FD-digits: Inception figures only (no data is read)
    config.eval.inception_weights, config.eval.inception_score_splits = "inception.npz", splits
    config.eval.batch_size, config.data.image_size = 10, image_size
    with caplog.at_level("WARNING"):
        record = image_quality(config, "unused", np.zeros((40, 8, 8, 1), np.uint8))
    per_split = [_numpy_inception_score(part) for part in np.split(logits, splits)]
    np.testing.assert_allclose(record["inception_score"], np.mean(per_split), rtol=1e-4)
    np.testing.assert_allclose(record["inception_score_std"], np.std(per_split), rtol=1e-3, atol=1e-6)
    assert record["inception_score_splits"] == splits
    assert record["fid_reference_comparable"] == (image_size < 256)
    assert ("not comparable with the reference" in caplog.text) == (image_size >= 256)


def test_kid_is_unbiased():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kernel_inception_distance(x, y, num_subsets=50, subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(50)
    shifted, _ = kernel_inception_distance(x, y + 0.3, num_subsets=50, subset_size=500)
    assert shifted > 10 * std


def _torch_style_state_dict(rng):
    """A random state dict with pytorch-fid's names and PyTorch layouts (OIHW, (out, in))."""
    template = jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)))["params"]
    state = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(template):
        names = [p.key for p in path]
        if names[-1] == "kernel":
            shape = leaf.shape[::-1] if len(leaf.shape) == 2 else (leaf.shape[3], leaf.shape[2], *leaf.shape[:2])
            fan_in = int(np.prod(leaf.shape[:-1]))
            state[".".join(names[:-1] + ["weight"])] = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)
        elif names[-1].startswith("bn_"):
            value = (
                rng.uniform(0.5, 1.5, leaf.shape)
                if names[-1] in ("bn_weight", "bn_running_var")
                else 0.1 * rng.normal(size=leaf.shape)
            )
            state[".".join(names[:-1] + ["bn", names[-1][3:]])] = value.astype(np.float32)
        else:
            state[".".join(names)] = (0.1 * rng.normal(size=leaf.shape)).astype(np.float32)
    return state


def test_the_shipped_digits_classifier_recognises_held_out_digits():
    assert digits.accuracy(digits.load_classifier(), "test") >= 0.98


def test_fd_digits_ranks_real_digits_below_model_samples_below_noise():
    """100 held-out digits << 100 samples of a trained quickstart model << 100 noise images."""
    params = digits.load_classifier()
    real = digits._digits("test")[0][:100]
    samples = np.load(FIXTURES / "quickstart_samples.npz")["images"].astype(np.float32) / 255.0
    noise = np.random.default_rng(6).uniform(size=(100, 16, 16, 1)).astype(np.float32)
    fd_real, fd_samples, fd_noise = (digits.digit_metrics(x, params)["fd_digits"] for x in (real, samples, noise))
    assert 2 * fd_real < fd_samples and 5 * fd_samples < fd_noise
    assert digits.digit_metrics(real, params)["digit_classes_covered"] == 10
    assert digits.digit_metrics(noise, params)["digit_classes_covered"] < 10


def test_inception_loader_checks_every_tensor_and_the_network_has_the_fid_shapes(tmp_path):
    """The loader maps pytorch-fid's names and layouts and checks every tensor; traced (not run) at
    299 x 299, the network gives (N, 2048) pool3 features and (N, 1008) logits."""
    state = _torch_style_state_dict(np.random.default_rng(5))
    assert len(state) == 94 * 5 + 2 and "Mixed_7c.branch_pool.bn.running_var" in state  # 94 conv+bn blocks, fc
    np.savez(tmp_path / "inception.npz", **state)
    params = load_inception_params(tmp_path / "inception.npz")
    np.testing.assert_array_equal(
        params["Conv2d_1a_3x3"]["conv"]["kernel"], np.transpose(state["Conv2d_1a_3x3.conv.weight"], (2, 3, 1, 0))
    )
    features, logits = jax.eval_shape(inception_apply, params, jax.ShapeDtypeStruct((4, 8, 8, 1), jnp.float32))
    assert features.shape == (4, 2048) and logits.shape == (4, 1008)
    state["Mixed_6b.branch7x7_2.conv.weight"] = state["Mixed_6b.branch7x7_2.conv.weight"][:, :, :, :3]
    with pytest.raises(ValueError, match="Mixed_6b.branch7x7_2.conv.weight"):
        params_from_state_dict(state, "bad.npz")
    del state["fc.bias"], state["Mixed_6b.branch7x7_2.conv.weight"]
    with pytest.raises(ValueError, match="tensors missing"):
        params_from_state_dict(state, "partial.npz")
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05"):
        load_inception_params(tmp_path / "nowhere.npz")
    with pytest.raises(ValueError, match="inception_weights"):
        fid_stats(tiny_image_config(), tmp_path)  # --mode fid_stats without weights


@pytest.mark.slow
def test_inception_runs_at_the_real_input_size_and_fid_stats_scores_the_same_images_zero(tmp_path):
    """The network run at 299 x 299 (about 45 s on 2 CPU cores, its compilation): (N, 2048)
    features and (N, 1008) logits; then --mode fid_stats caches a dataset's statistics, the same
    images score FID ~ 0 and others do not, and digits runs get FD-digits."""
    state = _torch_style_state_dict(np.random.default_rng(5))
    np.savez(tmp_path / "inception.npz", **state)
    params = load_inception_params(tmp_path / "inception.npz")
    images = jax.random.uniform(jax.random.PRNGKey(0), (4, 8, 8, 1))  # the digits' shape: one compilation
    features, logits = inception_apply(params, images)
    assert features.shape == (4, 2048) and logits.shape == (4, 1008)
    assert np.all(np.isfinite(features)) and np.all(np.asarray(features) >= 0)  # pool3 follows a ReLU
    assert np.abs(np.asarray(features[0] - features[1])).max() > 0  # the input reaches the features

    config = tiny_image_config()
    evaluation = config.eval
    evaluation.inception_weights, evaluation.fid_split = str(tmp_path / "inception.npz"), "test"
    evaluation.num_fid_examples, evaluation.batch_size, evaluation.num_kid_features = 4, 4, 4
    record = fid_stats(config, tmp_path)
    assert record["examples"] == 4 and Path(record["path"]) == reference_statistics_path(config, tmp_path)
    with np.load(record["path"]) as stats:
        assert stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
        assert stats["kid_features"].shape == (4, 2048)
    test_digits = get_image_source(config, "eval").get(np.arange(4))[0]
    same = image_quality(config, tmp_path, test_digits)
    other = image_quality(config, tmp_path, 255 - test_digits)
    assert other["fid"] > 0 and abs(same["fid"]) < 1e-4 * other["fid"]
    assert other["kid"] > 0 and abs(same["kid"]) < 0.1 * other["kid"]
    assert {"fd_digits", "digit_classes_covered", "inception_score", "inception_score_std"} <= set(same)


@pytest.mark.slow
def test_features_match_pytorch_fid(monkeypatch):
    """With the real weights (SCORE_SDE_INCEPTION_PTH=<pt_inception-2015-12-05-6726825d.pth>) and
    PyTorch + pytorch-fid installed: pool3 features equal pytorch-fid's on the same images."""
    pth = os.environ.get("SCORE_SDE_INCEPTION_PTH", "")
    if not pth:
        pytest.skip("set SCORE_SDE_INCEPTION_PTH to pt_inception-2015-12-05-6726825d.pth")
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("pytorch_fid.inception")
    monkeypatch.setattr(reference, "load_state_dict_from_url", lambda *args, **kwargs: torch.load(pth))
    network = reference.InceptionV3([3]).eval()
    images = np.random.default_rng(8).uniform(size=(4, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.from_numpy(images.transpose(0, 3, 1, 2)))[0][:, :, 0, 0].numpy()
    features, _ = jax.jit(InceptionV3().apply)({"params": load_inception_params(pth)}, images)
    np.testing.assert_allclose(features, expected, rtol=1e-3, atol=1e-4)
