"""Dataset-wide jobs in pieces: the same figures from one process or two, a killed job resumes
from its finished pieces, and a sample depends only on (seed, index)."""

import json
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from score_sde.pieces import PieceStore, run_pieces
from score_sde.runner import evaluate, train
from score_sde.runner.drawing import make_indexed_sample_fn
from score_sde.runner.setup import build
from tests.runner_helpers import run_cli, run_cli_processes, tiny_toy_config

# the config file the command-line jobs read: the tiny image run, bits/dim in 8 batches of 4, 4 of samples
CONFIG_FILE = """
from tests.runner_helpers import tiny_image_config


def get_config():
    config = tiny_image_config()
    config.model.num_classes = config.training.label_dropout = 0  # unconditional: less to compile
    evaluation = config.eval
    evaluation.num_bpd_examples, evaluation.num_samples = 32, 16
    evaluation.likelihood_rtol = evaluation.likelihood_atol = 1e-3
    evaluation.begin_ckpt = evaluation.end_ckpt = 1
    evaluation.enable_loss = False
    return config
"""


def job_config():
    namespace = {}
    exec(CONFIG_FILE, namespace)
    return namespace["get_config"]()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained tiny image run (checkpoints only) and the config file the CLI jobs use."""
    root = tmp_path_factory.mktemp("jobs")
    config = job_config()
    config.training.final_eval = config.training.snapshot_sampling = False
    train(config, root / "run", progress=False)
    (root / "job_config.py").write_text(CONFIG_FILE)
    return root


def _copy_run(trained, name):
    shutil.copytree(trained / "run" / "checkpoints", trained / name / "checkpoints")
    return trained / name


@pytest.fixture(scope="module")
def expected(trained):
    """The evaluation of the run's snapshot by this one process."""
    [record] = evaluate(job_config(), _copy_run(trained, "one"), progress=False)
    assert record["bpd_pieces"] == 8 and record["sample_pieces"] == 4 and record["bpd_examples"] == 32
    return record


def _assert_same_figures(record, expected):
    for field in ("bpd", "bpd_stderr", "fd_digits", "digit_classes_covered", "sample_nfe"):
        np.testing.assert_allclose(record[field], expected[field], rtol=1e-5, err_msg=field)


def _json_result(stdout: str):
    return json.loads(stdout[stdout.index("[\n") :])  # after gloo's connection line, if any


@pytest.mark.slow  # two processes over localhost (30-45 s): out of the 10-minute default tier
def test_two_processes_give_the_bits_per_dim_and_samples_of_one(trained, expected):
    two = _copy_run(trained, "two")
    processes = run_cli_processes(str(trained / "job_config.py"), two, "--mode=eval")
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    [record] = _json_result(outputs[0][0])
    _assert_same_figures(record, expected)
    images = [np.load(trained / w / "eval" / "step_4" / "samples.npz")["images"] for w in ("one", "two")]
    np.testing.assert_array_equal(images[1], images[0])
    assert len(list((two / "eval" / "step_4" / "pieces" / "likelihood").glob("*/piece_*.npz"))) == 8


@pytest.mark.slow  # two processes over localhost (30-45 s): out of the 10-minute default tier
def test_a_killed_job_resumes_from_its_finished_pieces(trained, expected):
    killed = _copy_run(trained, "killed")
    job = run_cli(str(trained / "job_config.py"), killed, "--mode=eval", wait=False)
    pieces = killed / "eval" / "step_4" / "pieces" / "likelihood"
    deadline = time.time() + 240
    while len(list(pieces.glob("*/piece_*.npz"))) < 2 and job.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert job.poll() is None, "the job ended before it could be killed"
    job.send_signal(signal.SIGKILL)
    job.wait()
    finished = len(list(pieces.glob("*/piece_*.npz")))
    assert 2 <= finished < 8

    [record] = evaluate(job_config(), killed, progress=False)  # restarted
    assert record["bpd_pieces_reused"] == finished and record["bpd_pieces_computed"] == 8 - finished
    _assert_same_figures(record, expected)


def test_a_sample_depends_on_its_index_and_not_on_its_batch():
    setup = build(tiny_toy_config(), with_data=False)
    params, rng = setup.init_state().params, jax.random.PRNGKey(7)
    eight, _ = make_indexed_sample_fn(setup, 8)(params, rng, jax.numpy.arange(8))
    four, _ = make_indexed_sample_fn(setup, 4)(params, rng, jax.numpy.arange(4, 8))
    np.testing.assert_allclose(np.asarray(four), np.asarray(eight)[4:], rtol=1e-5, atol=1e-5)
    other, _ = make_indexed_sample_fn(setup, 4)(params, jax.random.PRNGKey(8), jax.numpy.arange(4, 8))
    assert np.abs(np.asarray(other) - np.asarray(four)).max() > 0.1


def test_pieces_of_other_settings_are_refused_and_merged_in_order(tmp_path):
    store = PieceStore(tmp_path, {"batch_size": 2})
    compute = lambda k: (np.arange(2 * k, 2 * k + 2), {"value": np.arange(2 * k, 2 * k + 2) * 10.0})
    values, summary = run_pieces(store, 3, compute)
    np.testing.assert_array_equal(values["indices"], np.arange(6))
    np.testing.assert_array_equal(values["value"], np.arange(6) * 10.0)
    assert summary["pieces_reused"] == 0 and summary["pieces_computed"] == 3
    assert run_pieces(store, 3, compute)[1]["pieces_reused"] == 3
    other = PieceStore(tmp_path, {"batch_size": 3})
    assert other.directory != store.directory  # other settings, other pieces
    shutil.copy(store.path(0), other.path(0)) if other.directory.mkdir(parents=True) is None else None
    with pytest.raises(ValueError, match="was computed with other settings"):
        other.read(0)
