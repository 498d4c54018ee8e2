import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import toy2d
from score_sde.datasets import TOY_DATASETS, checkerboard, eight_gaussians, get_toy_sampler
from score_sde.evaluation.mmd import mmd_squared
from score_sde.files import MetricsLog, write_json_atomic
from score_sde.losses import LossSettings, get_loss_fn
from score_sde.models import MLPScoreNet, NetApply, get_model
from score_sde.parameterization import ReferenceNoise
from score_sde.runner.config_check import check_config
from score_sde.sde import VPSDE
from score_sde.train_step import create_train_state, ema_decay, make_optimizer, make_train_step


def _tiny_setup(n_jitted):
    config = toy2d.get_config()
    model = MLPScoreNet(hidden_dims=(16, 16), embedding_dim=8)
    net_apply = NetApply(model)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.ones((1,)))["params"]
    optimizer = make_optimizer(config.optim)
    state = create_train_state(params, optimizer, jax.random.PRNGKey(1))
    loss_fn = get_loss_fn(VPSDE(), ReferenceNoise(), net_apply, LossSettings(reduce_mean=True))
    return state, make_train_step(loss_fn, optimizer, ema_rate=0.9), loss_fn, optimizer


def test_several_steps_per_dispatch_equal_single_steps():
    batches = eight_gaussians(jax.random.PRNGKey(2), 4 * 32).reshape(4, 32, 2)
    state, run, _, _ = _tiny_setup(4)
    scanned, metrics = run(state, batches)
    state, run, _, _ = _tiny_setup(1)
    losses = []
    for batch in batches:
        state, m = run(state, batch[None])
        losses.append(float(m["loss"][0]))
    np.testing.assert_allclose(metrics["loss"], losses, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(scanned.params), jax.tree.leaves(state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert int(scanned.step) == 4


def test_train_step_applies_adam_and_the_ema():
    state, run, loss_fn, optimizer = _tiny_setup(1)
    batch = eight_gaussians(jax.random.PRNGKey(3), 32)
    params0 = jax.tree.map(np.asarray, state.params)
    grads = jax.grad(loss_fn)(state.params, jax.random.fold_in(state.rng, 0), batch)
    updates, _ = optimizer.update(grads, optimizer.init(state.params), state.params)
    expected = optax.apply_updates(state.params, updates)
    new_state, _ = run(state, batch[None])
    for got, want, ema, p0 in zip(
        *(jax.tree.leaves(t) for t in (new_state.params, expected, new_state.ema_params, params0))
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ema, 0.9 * p0 + 0.1 * np.asarray(want), rtol=1e-5, atol=1e-7)


def _adam_steps(gradients, lr_schedule, b1, eps, clip=None):
    """Adam (b2 = 0.999) in numpy with global-norm clipping of each gradient: the updates."""
    mu = nu = 0.0
    updates = []
    for t, g in enumerate(gradients):
        if clip is not None:
            g = g * min(1.0, clip / np.linalg.norm(g))
        mu, nu = b1 * mu + (1 - b1) * g, 0.999 * nu + 0.001 * g**2
        mu_hat, nu_hat = mu / (1 - b1 ** (t + 1)), nu / (1 - 0.999 ** (t + 1))
        updates.append(-lr_schedule(t) * mu_hat / (np.sqrt(nu_hat) + eps))
    return updates


def test_optimizer_warms_up_linearly_and_clips():
    config = toy2d.get_config().optim
    config.warmup, config.lr, config.grad_clip = 10, 1e-2, 1.0
    optimizer = make_optimizer(config)
    params = {"w": jnp.zeros(3)}
    opt_state = optimizer.init(params)
    # a large gradient (norm 100, clipped to norm 1), then a small one (norm 0.03, left alone):
    # Adam is invariant to a common rescaling, not to clipping only the first, so the second
    # update shows whether the first gradient was clipped
    gradients = [np.array([100.0, -3.0, 0.5]), np.array([0.01, -0.02, 0.02])]
    got = []
    for g in gradients:
        updates, opt_state = optimizer.update({"w": jnp.asarray(g)}, opt_state, params)
        got.append(np.asarray(updates["w"]))
    schedule = lambda t: config.lr * min(t, config.warmup) / config.warmup  # 0 at step 0
    clipped = _adam_steps(gradients, schedule, config.beta1, config.eps, clip=1.0)
    unclipped = _adam_steps(gradients, schedule, config.beta1, config.eps)
    np.testing.assert_allclose(got[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(got[1], clipped[1], rtol=1e-5)
    assert np.abs(clipped[1] - unclipped[1]).max() > 100 * np.abs(clipped[1]).max() * 1e-5  # the check has power
    config.grad_clip = -1.0  # no clipping
    optimizer = make_optimizer(config)
    opt_state = optimizer.init(params)
    for g in gradients:
        updates, opt_state = optimizer.update({"w": jnp.asarray(g)}, opt_state, params)
    np.testing.assert_allclose(np.asarray(updates["w"]), unclipped[1], rtol=1e-5)
    config.grad_clip = 0.0
    with pytest.raises(ValueError, match="config.optim.grad_clip=0"):
        make_optimizer(config)
    config.grad_clip, config.optimizer = 1.0, "sgd"
    with pytest.raises(ValueError, match="config.optim.optimizer='sgd'"):
        make_optimizer(config)


def test_weight_decay_leaves_biases_out_when_asked():
    """With zero gradients AdamW's update is -lr * wd * p: on every leaf by default, and with
    decay_biases=False (VDM's mask) on no bias: bias, a NIN layer's b, l2_bias or gamma_min."""
    config = toy2d.get_config().optim
    config.warmup, config.lr, config.weight_decay, config.grad_clip = 0, 0.1, 0.5, -1.0
    params = {
        "Dense_0": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
        "NIN_0": {"W": jnp.ones((2, 2)), "b": jnp.ones(2)},
        "schedule": {"gamma_min": jnp.ones(()), "l2_bias": jnp.ones(3), "l2_kernel": jnp.ones(3)},
    }
    zeros = jax.tree.map(jnp.zeros_like, params)
    decayed = {
        "Dense_0": {"kernel": True, "bias": False},
        "NIN_0": {"W": True, "b": False},
        "schedule": {"gamma_min": False, "l2_bias": False, "l2_kernel": True},
    }
    for decay_biases in (True, False):
        config.decay_biases = decay_biases
        optimizer = make_optimizer(config)
        updates, _ = optimizer.update(zeros, optimizer.init(params), params)
        expected = jax.tree.map(lambda p, d, on=decay_biases: -0.05 * p * (d or on), params, decayed)
        jax.tree.map(lambda u, e: np.testing.assert_allclose(u, e, rtol=1e-6), updates, expected)


def test_toy_datasets_have_their_shapes_and_supports():
    x = np.asarray(eight_gaussians(jax.random.PRNGKey(0), 4000))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1).mean(), 2.0, atol=0.02)
    angles = np.round(np.arctan2(x[:, 1], x[:, 0]) / (2 * np.pi / 8)) % 8
    np.testing.assert_allclose(np.bincount(angles.astype(int), minlength=8) / 4000, 1 / 8, atol=0.02)
    board = np.asarray(checkerboard(jax.random.PRNGKey(1), 4000))
    assert np.all(np.abs(board) <= 2.0)
    cells = np.floor(board + 2.0).astype(int)
    assert np.all((cells[:, 0] + cells[:, 1]) % 2 == 0)  # only the dark squares
    for name in TOY_DATASETS:
        assert TOY_DATASETS.get(name)(jax.random.PRNGKey(0), 7).shape == (7, 2)


def test_mmd_separates_distributions():
    a = eight_gaussians(jax.random.PRNGKey(0), 1000)
    b = eight_gaussians(jax.random.PRNGKey(1), 1000)
    c = checkerboard(jax.random.PRNGKey(2), 1000)
    same, different = float(mmd_squared(a, b)), float(mmd_squared(a, c))
    assert abs(same) < 0.01 < different


def test_mlp_options():
    x, sigma = jnp.ones((3, 2)), jnp.array([0.5, 1.0, 2.0])
    model = MLPScoreNet(hidden_dims=(8, 8), embedding_type="fourier", embedding_dim=8, scale_by_sigma=True)
    variables = model.init(jax.random.PRNGKey(0), x, sigma)
    params = jax.tree.map(lambda p: p + 0.1, variables["params"])  # the zero-initialised output layer made nonzero
    out = model.apply({"params": params}, x, sigma)
    unscaled = MLPScoreNet(hidden_dims=(8, 8), embedding_type="fourier", embedding_dim=8).apply(
        {"params": params}, x, sigma
    )
    np.testing.assert_allclose(out, unscaled / sigma[:, None], rtol=1e-5)
    dropout = MLPScoreNet(hidden_dims=(8, 8), embedding_dim=8, dropout=0.5)
    p = jax.tree.map(lambda v: v + 0.1, dropout.init(jax.random.PRNGKey(0), x, sigma)["params"])
    apply = NetApply(dropout)
    np.testing.assert_array_equal(apply(p, x, sigma), apply(p, x, sigma))
    assert not np.allclose(apply(p, x, sigma, jax.random.PRNGKey(1)), apply(p, x, sigma, jax.random.PRNGKey(2)))


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "model.name",
            "unet",
            r"unknown model config.model.name='unet': choose from \('autoencoder', 'mlp', 'ncsnpp'\)",
        ),
        ("data.dataset", "mnist", r"config.data.dataset='mnist'.*checkerboard"),
        ("sampling.method", "magic", r"config.sampling.method='magic'"),
        ("sampling.sde_solver", "milstein", r"config.sampling.sde_solver='milstein'"),
        ("model.embedding_type", "learned", r"config.model.embedding_type='learned'"),
    ],
)
def test_config_errors_name_the_field(field, value, message):
    config = toy2d.get_config()
    section, key = field.split(".")
    config[section][key] = value
    with pytest.raises(ValueError, match=message):
        get_model(config)
        get_toy_sampler(config)
        check_config(config)


def test_files_are_written_atomically(tmp_path):
    write_json_atomic(tmp_path / "a" / "config.json", {"x": 1})
    assert (tmp_path / "a" / "config.json").read_text().strip().startswith("{")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["config.json"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a" / "config.json").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.write({"step": 1, "loss": np.float32(0.5)})
    log.write({"step": 2, "loss": 0.25})
    assert log.read() == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]


def test_ema_decay_by_half_life_in_images():
    """EDM's EMA: after half-life / batch steps the old average's weight is 1/2; the ramp-up caps
    the half-life at ratio x images seen (decay 0 at the first step); half-life 0 is ema_rate."""
    constant = ema_decay(0.999)
    assert float(constant(jnp.asarray(7))) == pytest.approx(0.999)
    decay = ema_decay(0.999, halflife_kimg=0.5, batch_size=10)  # 500 images = 50 steps
    assert float(decay(jnp.asarray(1000))) ** 50 == pytest.approx(0.5, rel=1e-5)
    ramped = ema_decay(0.999, halflife_kimg=0.5, rampup_ratio=0.05, batch_size=10)
    assert float(ramped(jnp.asarray(0))) == 0.0
    # at step 200: 2000 images seen, half-life min(500, 100) = 100 images = 10 steps
    assert float(ramped(jnp.asarray(200))) ** 10 == pytest.approx(0.5, rel=1e-5)
    assert float(ramped(jnp.asarray(10**6))) == pytest.approx(float(decay(jnp.asarray(0))))
