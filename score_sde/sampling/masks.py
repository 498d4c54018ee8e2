"""Inpainting masks (config.sampling.mask): 1 where pixels are known, 0 where they are generated."""

from pathlib import Path

import numpy as np

from score_sde.datasets.sources import read_image
from score_sde.settings import Setting

MASKS = ("right_half", "left_half", "bottom_half", "top_half", "center", "checkerboard")


def make_mask(spec: str, image_size: int) -> np.ndarray:
    """(1, H, W, 1) float mask, 1 where pixels are known, from a built-in name (the region to
    generate) or a PNG file (white = known)."""
    size = image_size
    rows, cols = np.mgrid[:size, :size]
    half = size // 2
    built_in = {
        "right_half": cols < half,
        "left_half": cols >= half,
        "bottom_half": rows < half,
        "top_half": rows >= half,
        "center": ~((np.abs(rows - (size - 1) / 2) < size / 4) & (np.abs(cols - (size - 1) / 2) < size / 4)),
        "checkerboard": ((rows // max(1, size // 8)) + (cols // max(1, size // 8))) % 2 == 0,
    }
    if spec in built_in:
        known = built_in[spec]
    elif Path(spec).is_file():
        known = read_image(Path(spec), 1, size)[..., 0] >= 128
    else:
        raise ValueError(f"config.sampling.mask={spec!r}: choose from {MASKS} or give a PNG file (white = known)")
    return known.astype(np.float32)[None, :, :, None]


def _mask_or_png(value) -> str | None:
    return None if value in MASKS or Path(value).is_file() else f"choose from {MASKS} or give an existing PNG file"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.mask": Setting(
        "right_half",
        (
            "inpaint: the region to generate (right_half, left_half, bottom_half, "
            "top_half, center, checkerboard), or a PNG whose white pixels are known"
        ),
        _mask_or_png,
    ),
}
