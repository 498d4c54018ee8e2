"""Checkpoints with orbax: snapshots kept for evaluation, and frequent preemption checkpoints.

Workdir layout: checkpoints/<step>/ (every snapshot_freq steps, all kept) and
checkpoints-meta/<step>/ (every snapshot_freq_for_preemption steps, the last two kept).
Orbax writes each checkpoint to a temporary folder and renames it when complete, so a kill
mid-save leaves the previous ones intact. Each checkpoint also stores a fingerprint of the
state; a checkpoint that fails to restore or does not match its fingerprint is reported and
the next older one is used. A training state without power-function EMAs (post-hoc EMA off) is
written without that field, so those checkpoints keep the layout of the runs made before it.
"""

import logging
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from score_sde.train_step import TrainState

logger = logging.getLogger(__name__)

SNAPSHOTS, PREEMPTION = "checkpoints", "checkpoints-meta"


@jax.jit
def fingerprint(state) -> jax.Array:
    """(num_leaves, 2) float32: the sum and the sum of squares of every leaf of `state`."""
    leaves = [jnp.asarray(x, jnp.float32) for x in jax.tree.leaves(state)]
    return jnp.stack([jnp.stack([jnp.sum(x), jnp.sum(jnp.square(x))]) for x in leaves])


class CorruptCheckpointError(RuntimeError):
    pass


@flax.struct.dataclass
class _StateWithoutPowerEMAs:
    """A `TrainState` with no power-function EMAs, as written to disk (the layout before post-hoc EMA)."""

    step: jax.Array
    params: object
    opt_state: object
    ema_params: object
    rng: jax.Array


def _on_disk(state):
    """`state` as written: a TrainState without power-function EMAs drops the empty field."""
    if isinstance(state, TrainState) and not state.power_emas:
        return _StateWithoutPowerEMAs(state.step, state.params, state.opt_state, state.ema_params, state.rng)
    return state


def _powers(state) -> tuple[float, ...]:
    """The widths of the power-function EMAs a training state carries (none for other pytrees)."""
    return tuple(state.power_ema_sigma_rels) if isinstance(state, TrainState) else ()


def _in_memory(state):
    """The inverse of `_on_disk`."""
    if isinstance(state, _StateWithoutPowerEMAs):
        return TrainState(state.step, state.params, state.opt_state, state.ema_params, state.rng)
    return state


class Checkpointer:
    """Saves and restores a training state (any pytree of jax Arrays) under `workdir`."""

    def __init__(self, workdir: str | Path, keep_preemption: int = 2):
        workdir = Path(workdir).absolute()
        options = lambda keep: ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.snapshots = ocp.CheckpointManager(workdir / SNAPSHOTS, options=options(None))
        self.preemption = ocp.CheckpointManager(workdir / PREEMPTION, options=options(keep_preemption))

    def save(self, step: int, state, snapshot: bool) -> None:
        """Starts an asynchronous save into the snapshot or the preemption folder."""
        manager = self.snapshots if snapshot else self.preemption
        if step in manager.all_steps():
            return
        fingerprints = np.asarray(fingerprint(state)).tolist()
        meta = {"step": int(step), "fingerprint": fingerprints, "power_ema_sigma_rels": list(_powers(state))}
        written = ocp.args.StandardSave(_on_disk(state))
        manager.save(step, args=ocp.args.Composite(state=written, meta=ocp.args.JsonSave(meta)))

    def wait(self) -> None:
        """Blocks until pending saves are on disk."""
        self.snapshots.wait_until_finished()
        self.preemption.wait_until_finished()

    def close(self) -> None:
        self.snapshots.close()
        self.preemption.close()

    def snapshot_steps(self) -> list[int]:
        return sorted(self.snapshots.all_steps())

    def all_steps(self) -> list[int]:
        return sorted(set(self.snapshots.all_steps()) | set(self.preemption.all_steps()))

    def restore(self, step: int, target):
        """The state saved at `step` (snapshot or preemption), shaped and sharded like `target`
        (a pytree of arrays or jax.ShapeDtypeStruct); raises CorruptCheckpointError if unusable."""
        managers = [m for m in (self.snapshots, self.preemption) if step in m.all_steps()]
        if not managers:
            raise FileNotFoundError(f"no checkpoint of step {step}; found steps {self.all_steps()}")
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), _on_disk(target)
        )
        errors = []
        for manager in managers:
            where = Path(manager.directory) / str(step)
            try:
                saved = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
            except Exception as error:  # orbax raises many types for unreadable files
                errors.append(f"{where}: {type(error).__name__}: {str(error)[:200]}")
                continue
            held = tuple(saved.get("power_ema_sigma_rels", ()))
            if held != _powers(target):
                raise ValueError(
                    f"{where} holds power-function EMAs of sigma_rel {held} and this run's "
                    f"config.model.power_ema_sigma_rels is {_powers(target)}: give the widths the run was trained with"
                )
            try:
                restored = manager.restore(
                    step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
                )
            except Exception as error:  # orbax raises many types for unreadable files
                errors.append(f"{where}: {type(error).__name__}: {str(error)[:200]}")
                continue
            expected = np.asarray(restored.meta["fingerprint"], np.float32)
            found = np.asarray(fingerprint(restored.state))
            if expected.shape != found.shape or not np.allclose(found, expected, rtol=1e-6, atol=0.0):
                errors.append(f"{where}: its contents do not match the fingerprint saved with it")
                continue
            return _in_memory(restored.state)
        raise CorruptCheckpointError("; ".join(errors))

    def restore_latest(self, target, max_step: int | None = None):
        """(state, step) from the newest usable checkpoint at or below `max_step`, or (None, 0)
        when there is none; unusable checkpoints are logged and skipped."""
        for step in reversed(self.all_steps()):
            if max_step is not None and step > max_step:
                continue
            try:
                return self.restore(step, target), step
            except CorruptCheckpointError as error:
                logger.warning("checkpoint of step %d is unusable, falling back to an older one: %s", step, error)
        return None, 0
