"""Deterministic batch streams: the batch of step k is a pure function of (seed, k).

That makes a resumed run see exactly the batches an uninterrupted one would, with no
iterator state to checkpoint. Each process reads only its slice of every global batch.
"""

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from score_sde.datasets.sources import ImageSource

T = TypeVar("T")
K = TypeVar("K")


def check_batch_split(batch_size: int, process_count: int, device_count: int, setting: str) -> int:
    """The per-process batch size; refuses global batches the devices cannot split evenly."""
    if batch_size % device_count:
        raise ValueError(
            f"{setting}={batch_size} must be divisible by the number of devices ({device_count}, over "
            f"{process_count} process(es))"
        )
    return batch_size // process_count


class BatchStream:
    """Epoch-shuffled batches of a source: global position p of the stream is example
    permutation_e[p mod N] with e = p // N and permutation_e drawn from (seed, e)."""

    def __init__(
        self, source: ImageSource, global_batch_size: int, seed: int, process_index: int = 0, process_count: int = 1
    ):
        if len(source) == 0:
            raise ValueError("the training split is empty")
        self.source = source
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.offset = process_index * self.local_batch_size
        self.seed = seed
        self._permutations: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            self._permutations = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.source))}
        return self._permutations[epoch]

    def indices(self, step: int) -> np.ndarray:
        """Source indices of this process's slice of global batch `step`."""
        start = step * self.global_batch_size + self.offset
        positions = np.arange(start, start + self.local_batch_size)
        n = len(self.source)
        return np.array([self._permutation(int(p // n))[p % n] for p in positions])

    def batches(self, step: int, count: int) -> dict[str, np.ndarray]:
        """Batches step .. step + count - 1, stacked: image (count, b, H, W, C), label (count, b)."""
        parts = [self.source.get(self.indices(step + i)) for i in range(count)]
        return {"image": np.stack([p[0] for p in parts]), "label": np.stack([p[1] for p in parts])}


def eval_batches(
    source: ImageSource, batch_size: int, process_index: int = 0, process_count: int = 1, max_examples: int = 0
) -> Iterator[dict[str, np.ndarray]]:
    """The split in order, in full global batches (the remainder is dropped), this process's slice.

    max_examples > 0 stops after that many examples (rounded down to whole batches).
    """
    total = len(source) if max_examples <= 0 else min(max_examples, len(source))
    local = batch_size // process_count
    for start in range(0, total - batch_size + 1, batch_size):
        images, labels = source.get(np.arange(start + process_index * local, start + (process_index + 1) * local))
        yield {"image": images, "label": labels}


def prefetch(make: Callable[[K], T], keys: Iterator[K], depth: int = 2) -> Iterator[T]:
    """Yields make(k) for k in keys, computed `depth` ahead on a background thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def worker():
        try:
            for key in keys:
                buffer.put(make(key))
        except BaseException as error:  # re-raised in the consumer
            buffer.put(error)
        buffer.put(done)

    threading.Thread(target=worker, daemon=True).start()
    while (item := buffer.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
