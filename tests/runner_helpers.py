"""Tiny configs and a CLI launcher shared by the runner tests."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from configs import quickstart, toy2d

ROOT = Path(__file__).resolve().parents[1]


# the toy run of the command-line tests, as --config overrides of configs/toy2d.py
TOY_OVERRIDES = {
    "model.hidden_dims": "(32,32)",
    "training.batch_size": 64,
    "training.n_jitted_steps": 5,
    "training.log_freq": 5,
    "training.snapshot_sampling": False,
    "training.final_eval": False,
}


def tiny_toy_config(n_iters=40):
    config = toy2d.get_config()
    config.model.hidden_dims = (32, 32)
    training = config.training
    training.n_iters, training.batch_size, training.n_jitted_steps = n_iters, 64, 5
    training.log_freq, training.eval_freq, training.snapshot_freq = 5, 20, 20
    training.snapshot_freq_for_preemption = 10
    training.snapshot_sampling, training.final_eval = False, False
    config.sampling.num_steps = 20
    config.eval.num_samples = config.eval.batch_size = 200
    return config


def tiny_image_config():
    config = quickstart.get_config()
    config.data.image_size = 8
    model = config.model
    model.nf, model.ch_mult, model.num_res_blocks = 8, (1,), 1  # one resolution: the runner, not the network
    training = config.training
    training.n_iters, training.batch_size, training.n_jitted_steps = 4, 8, 2
    training.log_freq = training.eval_freq = training.snapshot_freq_for_preemption = 2
    training.snapshot_freq, training.snapshot_num_samples = 4, 4
    sampling = config.sampling
    sampling.method, sampling.num_steps = "ddim", 3
    model.num_classes, training.label_dropout, sampling.guidance_scale = 10, 0.5, 1.5  # classifier-free guidance
    evaluation = config.eval
    evaluation.batch_size = evaluation.num_samples = 4
    evaluation.num_bpd_examples, evaluation.num_loss_examples = 4, 8
    return config


def cli_args(overrides: dict) -> list[str]:
    return [f"--config.{key}={value}" for key, value in overrides.items()]


def run_cli(config_path: str, workdir, *extra: str, env: dict | None = None, timeout: int = 300, wait=True):
    command = [
        sys.executable,
        "-m",
        "experiments.main",
        "--config",
        config_path,
        "--workdir",
        str(workdir),
        "--progress=false",
        *extra,
    ]
    full_env = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def run_cli_processes(config_path: str, workdir, *extra: str, count: int = 2) -> list:
    """Starts `count` processes of one run joined over localhost (explicit coordinator flags);
    returns the Popen objects without waiting."""
    port = free_port()
    return [
        run_cli(
            config_path,
            workdir,
            *extra,
            f"--coordinator_address=127.0.0.1:{port}",
            f"--num_processes={count}",
            f"--process_id={i}",
            wait=False,
        )
        for i in range(count)
    ]


def losses(workdir) -> list[tuple[int, float]]:
    lines = (Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
