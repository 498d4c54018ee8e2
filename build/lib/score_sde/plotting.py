"""PNG figures: sample scatter plots beside the data."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from score_sde.files import write_bytes_atomic  # noqa: E402


def scatter_png(path, data, samples, title: str = "") -> None:
    """Writes side-by-side scatter plots of 2-D `data` and `samples` (each (n, 2)) to `path`."""
    data, samples = np.asarray(data), np.asarray(samples)
    lo = np.percentile(data, 0.5, axis=0) - 0.5
    hi = np.percentile(data, 99.5, axis=0) + 0.5
    figure, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    for ax, points, name in zip(axes, (data, samples), ("data", "samples")):
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
        ax.set_title(f"{name} ({len(points)})")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())
