import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from configs.latent import digits_autoencoder
from score_sde.evaluation.mmd import mmd_squared
from score_sde.oracle import GaussianMixture
from score_sde.sde import VPSDE
from tests.runner_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
# The toy runs' MMD^2 of 2000 samples against 2000 data points: two exact sample sets of the ring
# score 6e-5 +- 1.1e-3 (200 pairs, largest 3.2e-3), so 4 standard deviations; a ring whose
# components are 50% too wide (std 0.15) scores 6e-3 to 1e-2.
RING_MMD_BOUND = 4.5e-3
# The toy runs are execution-bound: XLA's optimisations on (conftest turns most off for the
# compile-bound tests; a VDM toy step is 3x slower without them).
FULL_OPTIMIZATIONS = {**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "0"}


@pytest.mark.slow
def test_cli_trains_samples_and_writes_the_workdir(tmp_path):
    """The CLI end to end on a short toy run (about 40 s; the default run launches the CLI in the
    resume and multi-device tests of test_runner.py)."""
    workdir = tmp_path / "toy"
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        "--config",
        "configs/toy2d.py",
        "--workdir",
        str(workdir),
        "--config.training.n_iters=800",
        "--config.training.log_freq=200",
        "--config.training.n_jitted_steps=100",
        "--config.training.snapshot_freq=800",
        "--config.training.snapshot_freq_for_preemption=400",
        "--config.training.eval_freq=400",
        "--config.training.snapshot_num_samples=500",
        "--config.model.ema_rate=0.95",  # 0.999 would still average in the initialisation after 800 steps
        "--config.model.hidden_dims=(64,64)",
        "--config.eval.num_samples=500",
        "--config.sampling.num_steps=200",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    config = json.loads((workdir / "config.json").read_text())
    assert config["training"]["n_iters"] == 800 and config["sampling"]["num_steps"] == 200
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert [r["step"] for r in records if "loss" in r] == [200, 400, 600, 800]
    assert losses[-1] < losses[0]
    final = records[-1]
    assert final["eval"] and final["sample_nfe"] > 0 and np.isfinite(final["nll_nats"])
    assert sorted(p.name for p in workdir.iterdir()) == [
        "checkpoints",
        "checkpoints-meta",
        "config.json",
        "metrics.jsonl",
        "samples",
        "tensorboard",
    ]
    assert sorted(p.name for p in (workdir / "samples").iterdir()) == ["final", "step_800"]

    arrays = np.load(workdir / "samples" / "final" / "samples.npz")
    samples, data = arrays["samples"], arrays["data"]
    assert samples.shape == data.shape == (500, 2)
    # the model learned the ring: much closer to the data than the prior is
    prior = np.random.default_rng(0).normal(size=(500, 2))
    assert float(mmd_squared(samples, data)) < 0.2 * float(mmd_squared(prior, data))
    assert Image.open(workdir / "samples" / "final" / "samples.png").size[0] > 100


def test_cli_refuses_an_unknown_sde(tmp_path):
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        "--config",
        "configs/toy2d.py",
        "--workdir",
        str(tmp_path),
        "--config.training.sde=fancy",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "config.training.sde='fancy'" in result.stderr


@pytest.mark.slow
def test_the_default_toy_run_learns_the_ring(tmp_path):
    """`make run` as documented (about 80 s): samples match the data, likelihood near the entropy."""
    workdir = tmp_path / "toy2d"
    command = [sys.executable, "-m", "experiments.main", "--config", "configs/toy2d.py", "--workdir", str(workdir)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=FULL_OPTIMIZATIONS)
    assert result.returncode == 0, result.stderr[-3000:]
    final = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()][-1]
    assert final["mmd2_samples_vs_data"] < RING_MMD_BOUND
    # the test NLL is a cross-entropy: at least the ring's entropy, and close to it when learned
    entropy = _ring_entropy()
    assert entropy - 0.02 < final["nll_nats"] < entropy + 0.2, (final["nll_nats"], entropy)


def test_mode_check_validates_builds_and_touches_nothing(tmp_path):
    """`--mode check` on a shipped config with overrides that every config accepts: the summary,
    exit 0, no workdir; a misspelt field is one line naming it."""
    workdir = tmp_path / "never_created"
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        "--config",
        "configs/ve/cifar10_ncsnpp_continuous.py",
        "--mode",
        "check",
        "--workdir",
        str(workdir),
        "--config.sampling.eps=1e-5",
        "--config.sampling.method=dpm_solver",
        "--config.data.data_dir=/nonexistent",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["config"] == "ok" and summary["model"].startswith("ncsnpp: 62,758,915 parameters")
    assert summary["process"].startswith("VESDE") and summary["sampler"] == "dpm_solver (eps=1e-05)"
    assert not workdir.exists()
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        "--config",
        "configs/toy2d.py",
        "--mode",
        "check",
        "--config.sampling.predicter=langevin",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "predicter" in line]
    assert len(lines) == 1 and "did you mean predictor?" in lines[0], result.stderr[-2000:]


def test_mode_check_of_a_latent_model_reads_its_autoencoders_config_alone(tmp_path):
    """`--mode check` of configs/latent/digits.py: with no autoencoder run, one line naming
    config.data.latents_of (no traceback); with the autoencoder's config.json written and no checkpoint
    yet (its training under way), the check passes and builds the score model for its 8x8x2 latents."""
    autoencoder = tmp_path / "autoencoder"
    command = [sys.executable, "-m", "experiments.main", "--config", "configs/latent/digits.py", "--mode", "check"]
    command.append(f"--config.data.latents_of={autoencoder}")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"config.data.latents_of='{autoencoder}'" in lines[0], result.stderr[-2000:]
    autoencoder.mkdir()
    (autoencoder / "config.json").write_text(json.dumps(digits_autoencoder.get_config().to_dict()))
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["event_shape"] == [8, 8, 2] and "weights not read" in summary["latents"], summary
    assert not (autoencoder / "checkpoints").exists() and not (autoencoder / "latent_scale").exists()


def _ring_entropy() -> float:
    """The entropy of the toy ring (8 Gaussians of std 0.1 on a circle of radius 2), by Monte Carlo."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    ring = GaussianMixture(VPSDE(), np.ones(8), means, np.tile(0.01 * np.eye(2), (8, 1, 1)))
    x, _ = ring.sample(jax.random.PRNGKey(0), 100000)
    return -float(ring.log_prob(x, jnp.zeros(100000)).mean())  # standard error ~0.003 nats


@pytest.mark.slow
@pytest.mark.parametrize("sde", ["linear_flow", "edm", "learned_vp"])
def test_the_toy_run_learns_the_ring_with_flow_matching_edm_and_vdm(tmp_path, sde):
    """The documented toy run with --config.training.sde=linear_flow (velocity parameterisation
    and loss), edm (EDM's preconditioning, weighting and log-normal noise levels) or learned_vp
    (VDM: a learned schedule on the variational bound), about 90 s each: the test NLL (probability-
    flow ODE) lies within 0.25 nats of the ring's entropy."""
    workdir = tmp_path / sde
    result = run_cli("configs/toy2d.py", workdir, f"--config.training.sde={sde}", timeout=900, env=FULL_OPTIMIZATIONS)
    assert result.returncode == 0, result.stderr[-3000:]
    final = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()][-1]
    entropy = _ring_entropy()
    assert entropy - 0.02 < final["nll_nats"] < entropy + 0.25, (final["nll_nats"], entropy)
    assert final["mmd2_samples_vs_data"] < RING_MMD_BOUND
