"""PNG figures: 2-D sample scatter plots beside the data, and image grids."""

import io

import numpy as np

from score_sde.files import write_bytes_atomic


def figure_png(figure, path) -> None:
    """Writes a matplotlib Figure (made without pyplot, so with no global backend) as a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(path, buffer.getvalue())


def scatter_png(path, data, samples, title: str | None = "") -> None:
    """Writes side-by-side scatter plots of 2-D `data` and `samples` (each (n, 2)) to `path`."""
    from matplotlib.figure import Figure  # matplotlib loads in 0.4 s: only where a plot is drawn

    data, samples = np.asarray(data), np.asarray(samples)
    lo = np.percentile(data, 0.5, axis=0) - 0.5
    hi = np.percentile(data, 99.5, axis=0) + 0.5
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots(1, 2, sharex=True, sharey=True)
    for ax, points, name in zip(axes, (data, samples), ("data", "samples")):
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
        ax.set_title(f"{name} ({len(points)})")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure_png(figure, path)


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """uint8 images (N, H, W, C) tiled row by row into one (rows*(H+p)+p, cols*(W+p)+p, C) image."""
    images = np.asarray(images)
    n, height, width, channels = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels), 255, np.uint8
    )
    for i, image in enumerate(images):
        top, left = padding + (i // columns) * (height + padding), padding + (i % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def image_grid_png(path, images: np.ndarray, columns: int | None = None, scale: int = 1) -> None:
    """Writes uint8 images (N, H, W, C) as one PNG grid, each pixel repeated `scale` times."""
    from PIL import Image

    grid = image_grid(images, columns)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
