"""The launch recipes of docs/launch.md: processes started the way SLURM starts them join on their own."""

import errno
import os
import random
import re
import signal
import socket
import time

import numpy as np
import pytest

from score_sde.checkpoints import Checkpointer
from tests.runner_helpers import TOY_OVERRIDES, cli_args, losses, run_cli, run_cli_processes

# Variables by which JAX (jax/_src/clusters/*.py) detects a cluster or takes its coordinates; none
# may leak into the test processes from the environment that runs the tests. Open MPI's
# OMPI_MCA_orte_hnp_uri in particular is checked before SLURM's variables.
CLUSTER_VARIABLES = ("SLURM_", "OMPI_", "PMI_", "PMIX_", "JAX_COORDINATOR_", "JAX_LOCAL_DEVICE_IDS")
CLUSTER_VARIABLES_EXACT = ("KUBERNETES_SERVICE_HOST", "TPU_WORKER_HOSTNAMES", "TPU_PROCESS_ADDRESSES")

# JAX's SlurmCluster puts the coordinator on the first host of SLURM_STEP_NODELIST, at port
# SLURM_JOB_ID % 2**12 + (65535 - 2**12 + 1), one of the 4096 ports 61440..65535.
SLURM_FIRST_PORT, SLURM_PORTS = 65535 - 2**12 + 1, 2**12


def port_is_free(port: int) -> bool:
    """Whether `port` can be bound on every address, as the coordinator binds it ([::]:port)."""
    try:
        with socket.socket(socket.AF_INET6) as s:  # dual-stack: also refused when IPv4 holds the port
            s.bind(("::", port))
        return True
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return False
    try:  # a machine without IPv6
        with socket.socket(socket.AF_INET) as s:
            s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False


def slurm_job_id_with_a_free_port() -> int:
    """A SLURM job id whose derived coordinator port is free on this machine."""
    for offset in random.sample(range(SLURM_PORTS), 64):
        if port_is_free(SLURM_FIRST_PORT + offset):
            return 7 * SLURM_PORTS + offset  # a job id like a real one; only its remainder matters
    pytest.skip(f"no free port among 64 tried in {SLURM_FIRST_PORT}..65535, where JAX puts SLURM's coordinator")


@pytest.mark.slow  # two SLURM-launched processes (about 30 s): out of the 10-minute default tier
def test_two_slurm_tasks_with_only_multihost_train_together_like_one_process(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(CLUSTER_VARIABLES) or name in CLUSTER_VARIABLES_EXACT:
            monkeypatch.delenv(name)
    overrides = cli_args(
        {
            **TOY_OVERRIDES,
            "training.n_iters": 20,
            "training.snapshot_freq": 20,
            "training.snapshot_freq_for_preemption": 10,
        }
    )
    workdir = tmp_path / "two"
    job_id = slurm_job_id_with_a_free_port()
    # `srun --nodes=1 --ntasks=2` on host "localhost": what each task finds in its environment.
    # These five are the ones SlurmCluster.is_env_present requires and reads (SLURM_LOCALID becomes
    # local_device_ids, the GPU a task keeps; on CPU it changes nothing).
    tasks = [
        {
            "SLURM_JOB_ID": str(job_id),
            "SLURM_STEP_NODELIST": "localhost",
            "SLURM_NTASKS": "2",
            "SLURM_PROCID": str(i),
            "SLURM_LOCALID": str(i),
        }
        for i in range(2)
    ]
    processes = [run_cli("configs/toy2d.py", workdir, *overrides, "--multihost", env=env, wait=False) for env in tasks]
    one = run_cli("configs/toy2d.py", tmp_path / "one", *overrides)  # meanwhile, the single-process reference
    try:
        outputs = [p.communicate(timeout=240) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    assert one.returncode == 0, one.stderr[-2000:]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    assert "JAX sees 2 device(s) over 2 process(es)" in outputs[0][1]
    # the coordinator came from SLURM's variables: JAX logs the address it connects to
    assert f"localhost:{SLURM_FIRST_PORT + job_id % SLURM_PORTS}" in outputs[1][1]
    assert Checkpointer(workdir).all_steps() == [10, 20]
    # float32 round-off: the two-process run sums the loss over two shards in another order
    np.testing.assert_allclose(np.array(losses(workdir)), np.array(losses(tmp_path / "one")), rtol=2e-5)


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_checkpoints_the_same_step_on_both_and_stops_them(tmp_path):
    overrides = cli_args(
        {
            **TOY_OVERRIDES,
            "training.n_iters": 100000,
            "training.n_jitted_steps": 1,
            "training.log_freq": 10,
            "training.snapshot_freq": 100000,
            "training.snapshot_freq_for_preemption": 50000,
        }
    )
    workdir = tmp_path / "two"
    processes = run_cli_processes("configs/toy2d.py", workdir, *overrides)
    deadline = time.time() + 240
    while time.time() < deadline and not ((workdir / "metrics.jsonl").exists() and len(losses(workdir)) >= 5):
        time.sleep(0.1)
    processes[1].send_signal(signal.SIGTERM)  # process 0 is not told
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in outputs]
    stops = [re.findall(r"SIGTERM received: checkpointed step (\d+)", err) for _, err in outputs]
    assert stops[0] == stops[1] and len(stops[0]) == 1
    assert Checkpointer(workdir).all_steps() == [int(stops[0][0])]
