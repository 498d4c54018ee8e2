"""Dataset-wide jobs in pieces: every process computes its own pieces on its own devices and
writes each atomically, so a job killed or preempted and started again computes only the missing ones.

A job's pieces live in <folder>/<fingerprint of its settings>/piece_<k>.npz; each holds the
example indices it covers, its values and the settings (JSON) that produced it. Piece k is
computed by process k mod process_count and depends only on (settings, k), so the merged result
is the same whatever the number of processes, devices or restarts.
"""

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from score_sde.files import write_json_atomic, write_npz_atomic


def settings_fingerprint(settings: dict) -> str:
    """12 hex digits identifying `settings` (JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class PieceStore:
    """The pieces of one job: <folder>/<settings fingerprint>/piece_<k>.npz."""

    folder: Path
    settings: dict

    @property
    def directory(self) -> Path:
        return Path(self.folder) / settings_fingerprint(self.settings)

    def path(self, k: int) -> Path:
        return self.directory / f"piece_{k:06d}.npz"

    def done(self, k: int) -> bool:
        return self.path(k).is_file()

    def write(self, k: int, indices: np.ndarray, values: dict[str, np.ndarray]) -> None:
        settings = json.dumps(self.settings, sort_keys=True, default=str)
        write_npz_atomic(self.path(k), indices=indices, settings=np.asarray(settings), **values)

    def read(self, k: int) -> dict[str, np.ndarray]:
        """Piece k's indices and values; refuses a piece written with other settings."""
        path = self.path(k)
        if not path.is_file():
            raise FileNotFoundError(f"piece {path} is missing: run the job again to compute it")
        with np.load(path) as data:
            values = {name: data[name] for name in data.files}
        written = json.loads(str(values.pop("settings")))
        expected = json.loads(json.dumps(self.settings, sort_keys=True, default=str))
        if written != expected:
            raise ValueError(f"piece {path} was computed with other settings ({written}); delete it to recompute")
        return values


def run_pieces(
    store: PieceStore | None,
    count: int,
    compute: Callable[[int], tuple[np.ndarray, dict[str, np.ndarray]]],
    progress: bool = False,
    desc: str = "pieces",
) -> tuple[dict[str, np.ndarray], dict]:
    """Computes this process's missing pieces (k = process_index mod process_count) with
    compute(k) -> (indices, values), writing each as it finishes; then, once every process is
    done, merges all `count` pieces in order. Returns (values concatenated along their first
    axis, with "indices"; {"pieces", "pieces_reused", "pieces_computed", "time_s"}).
    Without a store, this process computes every piece and keeps them in memory."""
    start = time.time()
    pieces: list[dict[str, np.ndarray]]
    if store is None:
        computed = [compute(k) for k in tqdm(range(count), desc=desc, unit="piece", disable=not progress)]
        pieces = [{"indices": np.asarray(indices), **to_numpy(values)} for indices, values in computed]
        reused = 0
    else:
        reused = sum(store.done(k) for k in range(count))
        _compute_missing(store, count, compute, progress, desc)
        pieces = [store.read(k) for k in range(count)]
    merged = {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]} if pieces else {}
    summary = {"pieces": count, "pieces_reused": reused, "pieces_computed": count - reused}
    return merged, {**summary, "time_s": time.time() - start}


def to_numpy(values: dict) -> dict[str, np.ndarray]:
    return {name: np.asarray(value) for name, value in values.items()}


def _compute_missing(store: PieceStore, count: int, compute, progress: bool, desc: str) -> None:
    index, processes = jax.process_index(), jax.process_count()
    mine = [k for k in range(count) if k % processes == index]
    missing = [k for k in mine if not store.done(k)]
    if index == 0:
        write_json_atomic(store.directory / "settings.json", store.settings)
    bar = tqdm(total=len(mine), initial=len(mine) - len(missing), desc=desc, unit="piece", disable=not progress)
    for k in missing:
        indices, values = compute(k)
        store.write(k, np.asarray(indices), to_numpy(values))
        bar.update(1)
    bar.close()
    if processes > 1:  # every piece is on disk before anyone merges
        multihost_utils.sync_global_devices(f"pieces {store.directory}")
