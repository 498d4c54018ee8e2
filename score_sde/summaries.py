"""Run logs: JSON lines in the workdir, and TensorBoard event files when tensorboardX is installed."""

import logging
from pathlib import Path

import numpy as np

from score_sde.files import MetricsLog, write_bytes_atomic

logger = logging.getLogger(__name__)


class Summaries:
    """Scalars go to `<workdir>/<name>.jsonl` and, if possible, to TensorBoard under `<workdir>/tensorboard`.

    Only process 0 writes (`enabled=False` elsewhere).
    """

    def __init__(self, workdir: str | Path, name: str = "metrics", enabled: bool = True):
        self.log = MetricsLog(Path(workdir) / f"{name}.jsonl")
        self.enabled = enabled
        self.writer = None
        if enabled:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                logger.info("tensorboardX is not installed; metrics go to %s only", self.log.path)
            else:
                self.writer = SummaryWriter(str(Path(workdir) / "tensorboard" / name))

    def scalars(self, step: int, record: dict) -> None:
        """Appends {"step": step, **record} to the log and each number to TensorBoard."""
        if not self.enabled:
            return
        self.log.write({"step": int(step), **record})
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, float(value), int(step))
            self.writer.flush()

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        """A uint8 (H, W, C) image to TensorBoard."""
        if self.enabled and self.writer is not None:
            self.writer.add_image(tag, image, int(step), dataformats="HWC")
            self.writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drops records of steps after `step` (a run resumed from an older checkpoint), atomically."""
        if not self.enabled:
            return
        records = self.log.read()
        kept = [r for r in records if r.get("step", 0) <= step]
        if len(kept) != len(records):
            import json

            write_bytes_atomic(self.log.path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
