"""Reading a finished run back: its config and the EMA parameters of one of its checkpoints.

Checkpoint numbers follow the reference: checkpoint k is the snapshot of step
k * config.training.snapshot_freq; -1 means the newest checkpoint of any kind.
"""

import json
from pathlib import Path

import ml_collections

from score_sde.checkpoints import Checkpointer
from score_sde.config import on_schema


def checkpoint_step(checkpointer: Checkpointer, config, number: int, setting: str = "config.eval.ckpt") -> int:
    """The step of checkpoint `number` (-1: the newest) in `checkpointer`'s workdir; `setting` names
    the config field that gave the number, for the error message."""
    steps = checkpointer.all_steps()
    if not steps:
        raise FileNotFoundError(
            f"no checkpoints in {checkpointer.snapshots.directory.parent}: train first (--mode train)"
        )
    if number == -1:
        return steps[-1]
    step = number * int(config.training.snapshot_freq)
    if step not in steps:
        snapshots = [s // int(config.training.snapshot_freq) for s in checkpointer.snapshot_steps()]
        raise FileNotFoundError(
            f"{setting}={number}: no checkpoint of step {step}; snapshot numbers "
            f"available: {snapshots} (or -1 for the newest)"
        )
    return step


def load_params(setup, workdir: Path, number: int, setting: str = "config.eval.ckpt"):
    """(EMA parameters, step, label) of checkpoint `number` of `workdir` (-1: the newest), laid out
    like `setup.abstract_state()` (the setup of the run's config)."""
    checkpointer = Checkpointer(workdir)
    step = checkpoint_step(checkpointer, setup.config, number, setting)
    state = checkpointer.restore(step, setup.abstract_state())
    checkpointer.close()
    return state.ema_params, step, f"step_{step}"


REFLOW_PAIRS_FOLDER = "reflow_pairs"  # what --mode reflow leaves in its workdir


def check_reflowed_run(config, workdir: Path) -> None:
    """A workdir trained by --mode reflow (it holds reflow_pairs/) is a reflowed flow, sampled only by
    integrating its probability flow: the config must say so (config.reflow.teacher), as in training."""
    if (Path(workdir) / REFLOW_PAIRS_FOLDER).is_dir() and not config.reflow.teacher:
        raise ValueError(
            f"{workdir} holds a flow trained by --mode reflow ({REFLOW_PAIRS_FOLDER}/): pass the "
            "--config.reflow.teacher of its training (in its config.json), so that it is sampled as a reflowed flow"
        )


def run_config(workdir, setting: str) -> ml_collections.ConfigDict:
    """The config a run saved in <workdir>/config.json, on the current schema (fields added since
    the run keep their defaults); `setting` names the config field that pointed here, for the
    error message."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{setting}={str(workdir)!r}: no {path}; give the workdir of a trained run")
    with open(path) as file:
        values = json.load(file)
    return on_schema(values)
