import json
import logging
import os
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from score_sde.checkpoints import Checkpointer
from score_sde.runner import compute_likelihood, evaluate, sample, train
from score_sde.runner import setup as runner_setup
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.train_loop import drop_labels
from tests.runner_helpers import (
    TOY_OVERRIDES,
    cli_args,
    losses,
    run_cli,
    run_cli_processes,
    tiny_image_config,
    tiny_toy_config,
)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("toy")
    record = train(tiny_toy_config(), workdir, progress=False)
    return workdir, record


def test_training_writes_logs_and_checkpoints(toy_run):
    workdir, record = toy_run
    assert record["step"] == 40
    assert [s for s, _ in losses(workdir)] == list(range(5, 45, 5))
    assert json.loads((workdir / "config.json").read_text())["training"]["n_iters"] == 40
    checkpointer = Checkpointer(workdir)
    assert checkpointer.snapshot_steps() == [20, 40] and checkpointer.all_steps() == [10, 20, 30, 40]
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    eval_records = [json.loads(line) for line in lines if "eval_loss" in line]
    assert [r["step"] for r in eval_records] == [20, 40] and all(np.isfinite(r["eval_loss"]) for r in eval_records)


def test_sample_likelihood_and_eval_modes_load_the_checkpoints(toy_run):
    workdir, _ = toy_run
    config = tiny_toy_config()
    record = sample(config, workdir, progress=False)
    assert record["step"] == 40 and record["num_samples"] == 200
    arrays = np.load(workdir / "samples" / "step_40" / "samples.npz")
    assert arrays["samples"].shape == (200, 2) and np.all(np.isfinite(arrays["samples"]))
    assert Image.open(workdir / "samples" / "step_40" / "samples.png").size[0] > 100
    config.eval.ckpt = 1
    assert sample(config, workdir, progress=False)["step"] == 20
    config.eval.ckpt = 5
    with pytest.raises(
        FileNotFoundError, match="config.eval.ckpt=5: no checkpoint of step 100; snapshot numbers available: \\[1, 2\\]"
    ):
        sample(config, workdir, progress=False)
    config.eval.ckpt = -1
    nll = compute_likelihood(config, workdir, progress=False)
    assert json.loads((workdir / "likelihood" / "step_40.json").read_text()) == nll
    assert np.isfinite(nll["nll_nats"]) and nll["nll_stderr"] > 0
    records = evaluate(config, workdir, progress=False)
    assert [r["ckpt"] for r in records] == [1, 2]
    assert all(np.isfinite(r["eval_loss"]) and r["mmd2_samples_vs_data"] < 5 for r in records)
    assert len((workdir / "eval_metrics.jsonl").read_text().splitlines()) == 2


def test_a_corrupt_checkpoint_is_reported_and_an_older_one_used(toy_run, tmp_path, caplog):
    workdir, _ = toy_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    target = build(tiny_toy_config()).abstract_state()
    for path in (copy / "checkpoints" / "40" / "state").rglob("*"):
        if path.is_file() and path.stat().st_size > 64:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    meta = copy / "checkpoints-meta" / "30" / "meta" / "metadata"
    record = json.loads(meta.read_text())
    record["fingerprint"][0][0] += 1.0  # same size, different content
    meta.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="score_sde.checkpoints"):
        state, step = Checkpointer(copy).restore_latest(target)
    assert step == 20 and int(state.step) == 20
    warnings = [r.getMessage() for r in caplog.records]
    assert any("step 40 is unusable" in w for w in warnings)
    assert any("step 30 is unusable" in w and "do not match the fingerprint" in w for w in warnings)
    # training resumes from step 20 and rewrites the log from there
    train(tiny_toy_config(), copy, progress=False)
    np.testing.assert_array_equal(losses(copy), losses(workdir))


def test_a_non_finite_loss_stops_training_naming_the_step(tmp_path, monkeypatch):
    original = runner_setup.get_data

    def poisoned(config, *args):
        data = original(config, *args)
        model_input = lambda rng, step, train: jnp.where(step >= 13, jnp.nan, data.model_input(rng, step, train))
        return data.__class__(**{**data.__dict__, "model_input": model_input})

    monkeypatch.setattr(runner_setup, "get_data", poisoned)
    with pytest.raises(FloatingPointError, match="non-finite at step 14 .*last good checkpoint"):
        train(tiny_toy_config(), tmp_path, progress=False)
    checkpointer = Checkpointer(tmp_path)
    assert checkpointer.all_steps() == [10]
    state, step = checkpointer.restore_latest(build(tiny_toy_config()).abstract_state())
    assert step == 10 and all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.params))
    assert max(s for s, _ in losses(tmp_path)) == 10


@pytest.mark.slow  # kills and resumes real training processes (about 45 s): out of the 10-minute default tier
def test_sigkill_at_any_moment_then_resume_reproduces_the_uninterrupted_losses(tmp_path):
    overrides = cli_args(
        {
            **TOY_OVERRIDES,
            "training.n_iters": 300,
            "training.n_jitted_steps": 1,
            "training.log_freq": 10,
            "training.snapshot_freq": 150,
            "training.snapshot_freq_for_preemption": 10,
        }
    )
    whole = run_cli("configs/toy2d.py", tmp_path / "whole", *overrides)
    assert whole.returncode == 0, whole.stderr[-2000:]
    interrupted = tmp_path / "interrupted"
    process = run_cli("configs/toy2d.py", interrupted, *overrides, wait=False)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        meta = interrupted / "checkpoints-meta"
        if meta.exists() and any(p.name.isdigit() and int(p.name) >= 100 for p in meta.iterdir()):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = max(s for s, _ in losses(interrupted))
    assert killed_at < 300
    resumed = run_cli("configs/toy2d.py", interrupted, *overrides)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    np.testing.assert_array_equal(losses(interrupted), losses(tmp_path / "whole"))


@pytest.mark.slow  # the default run has both: test_sharding (4 devices), test_launch (2 processes)
def test_four_devices_and_two_processes_give_the_losses_of_one(tmp_path):
    overrides = cli_args(
        {
            **TOY_OVERRIDES,
            "training.n_iters": 20,
            "training.snapshot_freq": 20,
            "training.snapshot_freq_for_preemption": 10,
        }
    )
    one = run_cli("configs/toy2d.py", tmp_path / "one", *overrides)
    assert one.returncode == 0, one.stderr[-2000:]
    four = run_cli(
        "configs/toy2d.py", tmp_path / "four", *overrides, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    )
    assert four.returncode == 0, four.stderr[-2000:]
    assert "JAX sees 4 device(s)" in four.stderr
    expected = np.array(losses(tmp_path / "one"))
    np.testing.assert_allclose(np.array(losses(tmp_path / "four")), expected, rtol=2e-5)

    workdir = tmp_path / "two"
    processes = run_cli_processes("configs/toy2d.py", workdir, *overrides)
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    assert "JAX sees 2 device(s) over 2 process(es)" in outputs[0][1]
    np.testing.assert_allclose(np.array(losses(workdir)), expected, rtol=2e-5)
    assert Checkpointer(workdir).all_steps() == [10, 20]


@pytest.mark.slow  # its parts run by default in test_jobs (image bits/dim, samples) and test_latent_runner
def test_image_training_snapshots_samples_and_bits_per_dim(tmp_path):
    config = tiny_image_config()
    record = train(config, tmp_path, progress=False)
    assert record["step"] == 4 and record["eval"]
    assert 0.0 < record["bpd"] < 30.0 and record["bpd_examples"] == 4 and np.isfinite(record["eval_loss"])
    assert record["fd_digits"] > 0 and 1 <= record["digit_classes_covered"] <= 4  # the offline sample metric
    for folder in ("step_4", "final"):
        grid = Image.open(tmp_path / "samples" / folder / "samples.png")
        assert grid.mode == "L" and grid.size[0] > 8 * 2
    images = np.load(tmp_path / "samples" / "final" / "samples.npz")["images"]
    assert images.shape == (4, 8, 8, 1) and images.dtype == np.uint8
    assert Checkpointer(tmp_path).all_steps() == [2, 4]
    state = Checkpointer(tmp_path).restore(4, build(config).abstract_state())
    initial = build(config).init_state()
    # the class-conditional network trained its label embedding (labels reach the loss)
    assert not np.allclose(state.params["label_embedding"]["embedding"], initial.params["label_embedding"]["embedding"])
    config.sampling.task, config.sampling.num_steps = "inpaint", 21  # digits of the eval split, right half known
    assert sample(config, tmp_path, progress=False) == {"step": 4, "task": "inpaint", "count": 4, "nfe": 21}
    assert json.loads((tmp_path / "samples" / "step_4" / "inpaint.json").read_text())["task"] == "inpaint"
    assert Image.open(tmp_path / "samples" / "step_4" / "inpaint.png").size[0] > 12 * 8
    # a checkpoint samples (class 3) without its dataset: a CIFAR-10-named config, no prepared CIFAR-10
    config.sampling.task, config.sampling.class_label, config.data.dataset = "generate", 3, "CIFAR10"
    config.data.data_dir, config.data.download = str(tmp_path / "no_tfds_here"), False
    assert sample(config, tmp_path, progress=False)["num_samples"] == 4
    with pytest.raises(FileNotFoundError, match="tfds dataset 'cifar10' is not prepared"):
        train(config, tmp_path / "other", progress=False)  # training does need it


@pytest.mark.slow  # the image run samples with this guided score by default; this checks its value
def random_params(setup):
    """Parameters drawn N(0, 0.3^2) (not the zero-initialised output layers): every input matters."""
    leaves, tree = jax.tree.flatten(setup.abstract_state().params)
    keys = jax.random.split(jax.random.PRNGKey(0), len(leaves))
    return jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def test_sampling_score_of_a_class_conditional_network_is_the_guided_score():
    config = tiny_image_config()
    config.sampling.class_label, config.sampling.guidance_scale = 3, 1.5
    setup = build(config)
    params = random_params(setup)
    x, t = jax.random.normal(jax.random.PRNGKey(1), (4, 8, 8, 1)), jnp.full((4,), 0.5)
    scores = jax.jit(lambda labels: setup.score_fn(params, labels)(x, t))
    score = lambda label: np.asarray(scores(jnp.full((4,), label)))
    guided = np.asarray(jax.jit(lambda: setup.sampling_score_fn(params, 4)(x, t))())
    np.testing.assert_allclose(guided, 2.5 * score(3) - 1.5 * score(10), rtol=1e-4, atol=1e-4)
    assert np.abs(score(3) - score(7)).max() > 1e-2
    unconditional = jax.jit(lambda: setup.score_fn(params)(x, t))()
    np.testing.assert_allclose(np.asarray(unconditional), score(10), rtol=1e-6, atol=1e-6)  # no labels: the null label
    config.sampling.guidance_scale, config.sampling.class_label = 0.0, -1
    cycling = np.asarray(jax.jit(lambda: build(config).sampling_score_fn(params, 4)(x, t))())
    np.testing.assert_allclose(cycling[2], score(2)[2], rtol=1e-5)  # class_label -1: classes in turn


def test_the_probability_flow_of_a_discrete_trained_network_takes_continuous_labels():
    """As the reference's ODE sampler and likelihood (continuous=True there): a VP network trained
    with the DDPM loss (training.continuous=False) is scored with labels t 999 and the continuous
    std under the probability-flow ODE, unless sampling.ode_score="discrete"."""
    config = tiny_toy_config()
    config.training.continuous, config.sampling.method, config.sampling.num_steps = False, "ode", 25
    setup = build(config, with_data=False)
    params = random_params(setup)
    x, t = jax.random.normal(jax.random.PRNGKey(0), (4, 2)), jnp.array([0.1234, 0.5004, 0.7777, 0.99])
    score = lambda fn: np.asarray(jax.jit(lambda p: fn(p)(x, t))(params))
    config.training.continuous = True
    continuous = score(build(config, with_data=False).score_fn)
    discrete = score(setup.score_fn)
    assert np.abs(continuous - discrete).max() > 1e-3  # labels int(t 999) and the DDPM chain's std
    np.testing.assert_allclose(score(lambda p: setup.score_fn(p, flow=True)), continuous, rtol=1e-5)
    np.testing.assert_allclose(score(lambda p: setup.sampling_score_fn(p, 4)), continuous, rtol=1e-5)
    config.training.continuous, config.sampling.ode_score = False, "discrete"
    np.testing.assert_allclose(score(lambda p: build(config).score_fn(p, flow=True)), discrete, rtol=1e-5)


def test_pc_sampling_on_the_probability_flow_through_the_config():
    config = tiny_toy_config()
    config.sampling.method, config.sampling.probability_flow, config.sampling.corrector = "pc", True, "none"
    config.sampling.num_steps = 25
    setup = build(config, with_data=False)
    params = setup.init_state().params
    first, nfe = setup.sampler(jax.random.PRNGKey(0), setup.sde, setup.score_fn(params), (8, 2))
    assert int(nfe) == 25 and np.all(np.isfinite(first))
    config.sampling.predictor = "ancestral_sampling"
    with pytest.raises(ValueError, match="ancestral_sampling' has no probability-flow form"):
        build(config, with_data=False)


def test_label_dropout_replaces_labels_by_the_null_label_at_its_rate():
    labels = jnp.arange(100000) % 10
    dropped = np.asarray(drop_labels(jax.random.PRNGKey(0), labels, 0.2, 10))
    null = dropped == 10
    assert abs(null.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 100000)
    np.testing.assert_array_equal(dropped[~null], np.asarray(labels)[~null])


def test_bad_settings_fail_at_start_up_with_one_line():
    cases = [
        ({"training.sde": "fancy"}, "config.training.sde='fancy'"),
        ({"model.name": "unet9"}, "config.model.name='unet9'"),
        ({"sampling.method": "magic"}, "config.sampling.method='magic'"),
        ({"sampling.method": "pc", "sampling.predictor": "oracle"}, "config.sampling.predictor='oracle'"),
        ({"data.dataset": "imagenet42"}, "config.data.dataset='imagenet42'"),
        ({"training.snapshot_freq": 7}, "config.training.snapshot_freq=7 must be a multiple"),
        ({"training.batch_size": 0}, "config.training.batch_size must be a positive integer"),
        ({"optim.optimizer": "sgd"}, "config.optim.optimizer='sgd'"),
        ({"training.continuous": False, "training.sde": "subvpsde"}, "training.continuous=False needs"),
    ]
    for overrides, message in cases:
        config = tiny_toy_config()
        for key, value in overrides.items():
            section, field = key.split(".")
            config[section][field] = value
        with pytest.raises(ValueError) as error:
            build(config)
        assert message in str(error.value) and "\n" not in str(error.value), overrides


@pytest.mark.parametrize(
    "sde, parameterization, weighting, time_sampling",
    [
        ("linear_flow", "FlowVelocity", "velocity", "uniform"),
        ("edm", "EDMPreconditioning", "edm", "log_normal"),
    ],
)
def test_the_new_processes_train_sample_and_score_through_the_runner(
    tmp_path, sde, parameterization, weighting, time_sampling
):
    """The wiring of --config.training.sde for the new processes, on a short toy run (their
    learning is the slow test_main.py::test_the_toy_run_learns_the_ring_with_flow_matching_and_edm)."""
    config = tiny_toy_config(n_iters=20)
    config.training.sde = sde
    config.training.final_eval = True
    config.eval.num_samples = config.eval.batch_size = 100
    config.eval.enable_bpd = False  # the likelihood of every process: test_likelihood.py
    setup = build(config)
    assert type(setup.parameterization).__name__ == parameterization
    assert (setup.objective.settings.weighting, setup.objective.settings.time_sampling) == (weighting, time_sampling)
    record = train(config, tmp_path, progress=False)
    assert record["step"] == 20 and record["eval"] and "nll_nats" not in record
    assert record["sample_nfe"] == 21 and np.isfinite(record["mmd2_samples_vs_data"])
    assert all(np.isfinite(loss) for _, loss in losses(tmp_path))


def test_autoguidance_by_an_earlier_checkpoint_and_a_guidance_interval_from_the_config(toy_run):
    """config.sampling.autoguidance names the weaker run (here the run's own first snapshot, as EDM2's
    earlier-checkpoint guide): the sampling score is (1 + w) score - w weak score inside the guidance
    interval, the run's own score outside it; a weaker model of another process is refused."""
    workdir, _ = toy_run
    config = tiny_toy_config()
    sampling = config.sampling
    sampling.autoguidance, sampling.autoguidance_ckpt, sampling.autoguidance_scale = str(workdir), 1, 2.0
    sampling.guidance_sigma_max = 1.0
    setup = build(config, with_data=False)
    params, _, _ = load_params(setup, workdir, -1)
    early, _, _ = load_params(setup, workdir, 1)
    x = jax.random.normal(jax.random.PRNGKey(0), (32, 2))
    t = jnp.linspace(0.01, 1.0, 32)
    flow = setup.sampler.continuous_ode
    main, weak = setup.score_fn(params, None, flow)(x, t), setup.score_fn(early, None, flow)(x, t)
    guided = setup.sampling_score_fn(params, 32)(x, t)
    inside = np.exp(-0.5 * np.asarray(setup.sde.log_snr(t))) <= 1.0
    assert 0 < inside.sum() < 32 and float(jnp.max(jnp.abs(main - weak))) > 1e-3
    np.testing.assert_allclose(guided[inside], (3.0 * main - 2.0 * weak)[inside], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(guided[~inside], main[~inside], rtol=1e-6)
    other = config.copy_and_resolve_references()
    other.training.sde = "subvpsde"
    with pytest.raises(ValueError, match="the weaker model must share them"):
        build(other, with_data=False)
