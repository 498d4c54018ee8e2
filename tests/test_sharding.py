"""Parameter sharding (FSDP): the layout rule, and training on 2x2 and 1x4 meshes of 4 CPU devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from jax.sharding import PartitionSpec

from score_sde.parallel import FSDP_AXIS, fsdp_spec
from score_sde.runner.train_loop import train
from tests.runner_helpers import ROOT, losses, tiny_toy_config


def test_fsdp_splits_the_largest_divisible_axis_and_replicates_small_arrays():
    assert fsdp_spec((3, 3, 64, 128), 4, 1024) == PartitionSpec(None, None, None, FSDP_AXIS)
    assert fsdp_spec((3, 3, 128, 64), 4, 1024) == PartitionSpec(None, None, FSDP_AXIS)
    assert fsdp_spec((30, 64), 4, 1024) == PartitionSpec(None, FSDP_AXIS)  # 30 is larger but 4 does not divide it
    assert fsdp_spec((30, 30), 4, 16) == PartitionSpec()  # no axis divides
    assert fsdp_spec((512,), 4, 1024) == PartitionSpec()  # small
    assert fsdp_spec((4096,), 1, 1024) == PartitionSpec()  # no fsdp axis


# Runs on 4 CPU devices: the same toy training on the (data, fsdp) meshes 2x2 and 1x4, and a run
# whose first half is checkpointed on 1x4 and resumed on 4x1 (plain data parallelism). Prints JSON.
FOUR_DEVICE_RUNS = """
import json, sys
import jax
from jax.sharding import PartitionSpec
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from tests.runner_helpers import losses, tiny_toy_config

def config(fsdp, n_iters=20):
    c = tiny_toy_config(n_iters=n_iters)
    c.training.fsdp, c.training.fsdp_min_size = fsdp, 256
    return c

tmp, out = sys.argv[1], {"devices": jax.device_count()}
for fsdp in (2, 4):
    shardings = jax.tree.leaves(build(config(fsdp), with_data=False).state_sharding())
    out[f"sharded_arrays_{fsdp}"] = sum(s.spec != PartitionSpec() for s in shardings)
    train(config(fsdp), f"{tmp}/mesh_{fsdp}", progress=False)
    out[f"losses_{fsdp}"] = losses(f"{tmp}/mesh_{fsdp}")
train(config(4, n_iters=10), f"{tmp}/moved", progress=False)  # checkpoint of step 10 written on 1x4
train(config(1), f"{tmp}/moved", progress=False)  # restored on 4x1, trained to step 20
out["losses_moved"] = losses(f"{tmp}/moved")
print(json.dumps(out))
"""


@pytest.mark.slow  # three meshes of four devices (about 35 s): out of the 10-minute default tier
def test_two_by_two_and_one_by_four_meshes_give_the_losses_of_one_device_and_checkpoints_move(tmp_path):
    config = tiny_toy_config(n_iters=20)
    train(config, tmp_path / "one", progress=False)
    expected = np.array(losses(tmp_path / "one"))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICE_RUNS, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["devices"] == 4
    assert out["sharded_arrays_2"] > 10 and out["sharded_arrays_4"] > 10
    for fsdp in (2, 4):
        np.testing.assert_allclose(np.array(out[f"losses_{fsdp}"]), expected, rtol=2e-5)
    np.testing.assert_allclose(np.array(out["losses_moved"]), expected, rtol=2e-5)


@pytest.mark.parametrize("fsdp", [3])
def test_an_fsdp_size_that_does_not_divide_the_devices_is_refused(fsdp):
    config = tiny_toy_config()
    config.training.fsdp = fsdp
    with pytest.raises(ValueError, match="config.training.fsdp=3 must divide the number of devices"):
        train(config, "/nonexistent/never-written", progress=False)
