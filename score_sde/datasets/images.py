"""Image preprocessing: host-side resizing and cropping, device-side scaling and augmentation.

Images travel from host to device as uint8 (B, H, W, C), or as float32 in [0, 1] for the
datasets the reference resizes in float (CelebA, LSUN at 128 px); `to_model_input` turns them
into the model's range on device, inside the jitted step, with the step's own random key.
"""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from score_sde.settings import Setting, choice

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window of an (H, W, C) image."""
    height, width = image.shape[:2]
    if size > min(height, width):
        raise ValueError(f"cannot crop {size}x{size} from a {height}x{width} image")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of an (H, W, C) uint8 image to size x size."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    channels = image.shape[-1]
    pil = Image.fromarray(image[..., 0] if channels == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return out.reshape(size, size, channels)


def square_resize(image: np.ndarray, size: int, crop: int | None = None) -> np.ndarray:
    """Center-crops to `crop` (default: the shorter side), then resizes to size x size."""
    return resize(center_crop(image, crop or min(image.shape[:2])), size)


def _resize_float(image: np.ndarray, height: int, width: int, method) -> np.ndarray:
    """(H, W, C) float32 image resized per channel in float (Pillow's "F" mode, antialiased when
    shrinking, as tf.image.resize(antialias=True)), without rounding."""
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F").resize((width, height), method))
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def resize_small(image: np.ndarray, size: int) -> np.ndarray:
    """The reference's `resize_small`: the shorter side to `size` (the other rounded in
    proportion), bilinear, antialiased, in float. image: (H, W, C) float32."""
    height, width = image.shape[:2]
    ratio = size / min(height, width)
    return _resize_float(image, round(height * ratio), round(width * ratio), Image.Resampling.BILINEAR)


def reference_celeba(image: np.ndarray, size: int) -> np.ndarray:
    """The reference's CelebA preprocessing: uint8 (H, W, C) -> float32 in [0, 1], the central
    140 x 140 window, then `resize_small` to size x size; not rounded to 8 bits."""
    return resize_small(center_crop(image.astype(np.float32) / 255.0, 140), size)


def reference_lsun(image: np.ndarray, size: int) -> np.ndarray:
    """The reference's LSUN preprocessing. At 128 px: float32 in [0, 1], `resize_small`, then the
    central size x size window (float output). Other sizes: the central square, antialiased
    bicubic resize to size x size, truncated to uint8 (clipped first: bicubic overshoots)."""
    if size == 128:
        return center_crop(resize_small(image.astype(np.float32) / 255.0, size), size)
    square = center_crop(image, min(image.shape[:2])).astype(np.float32)
    resized = _resize_float(square, size, size, Image.Resampling.BICUBIC)
    return np.clip(resized, 0, 255).astype(np.uint8)


def to_model_input(
    rng: Array, images: Array, *, centered: bool, uniform_dequantization: bool, random_flip: bool
) -> Array:
    """Images (B, H, W, C) -> float32 model input, on device.

    uint8 pixels k become k / 255, or (k + u) / 256 with u ~ U[0, 1) under uniform
    dequantization; float images (values in [0, 1], as the reference's float-resized CelebA
    and LSUN) stay as they are, or become (255 x + u) / 256. `random_flip` mirrors each image
    left-right with probability 1/2; `centered` maps [0, 1] to [-1, 1]. These are the
    reference's preprocessing steps, in its order.
    """
    flip_rng, dq_rng = jax.random.split(rng)
    x = images.astype(jnp.float32)
    unit = x / 255.0 if images.dtype == jnp.uint8 else x
    if uniform_dequantization:
        x = (unit * 255.0 + jax.random.uniform(dq_rng, x.shape)) / 256.0
    else:
        x = unit
    if random_flip:
        flip = jax.random.bernoulli(flip_rng, 0.5, (x.shape[0], 1, 1, 1))
        x = jnp.where(flip, jnp.flip(x, axis=2), x)
    return 2.0 * x - 1.0 if centered else x


UINT8_RULES = ("truncate", "round")


def to_uint8(x: ArrayLike, *, centered: bool, rule: str) -> np.ndarray:
    """Model-range images (B, H, W, C) to uint8 pixels, clipped to [0, 255]: `rule` "truncate"
    takes floor(255 x) (the reference's `(x * 255).astype(uint8)`), "round" the nearest level.
    uint8 pixels are returned as they are."""
    if rule not in UINT8_RULES:
        raise ValueError(f"config.sampling.to_uint8={rule!r}: choose from {UINT8_RULES}")
    if np.asarray(x).dtype == np.uint8:
        return np.asarray(x)
    values = np.asarray(x, np.float32)
    if centered:
        values = (values + 1.0) / 2.0
    scaled = values * 255.0 if rule == "truncate" else np.round(values * 255.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "sampling.to_uint8": Setting(
        "truncate",
        (
            "generated samples to 8-bit pixels (PNGs, FID / IS): truncate floor(255"
            " x) (the reference) or round; steering outputs (inpaint, colorize, "
            "interpolate) are always rounded, so known pixels come back exactly"
        ),
        choice(*UINT8_RULES),
    ),
}
