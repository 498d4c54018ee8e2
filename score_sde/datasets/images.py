"""Image preprocessing: host-side resizing and cropping (uint8), device-side scaling and augmentation.

Images travel from host to device as uint8 (B, H, W, C); `to_model_input` turns them into
the model's range on device, inside the jitted step, with the step's own random key.
"""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

Array = jax.Array


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


def to_model_input(
    rng: Array, images: Array, *, centered: bool, uniform_dequantization: bool, random_flip: bool
) -> Array:
    """uint8 images (B, H, W, C) -> float32 model input, on device.

    Pixels k become k / 255, or (k + u) / 256 with u ~ U[0, 1) under uniform dequantization;
    `random_flip` mirrors each image left-right with probability 1/2; `centered` maps [0, 1]
    to [-1, 1]. These are the reference's preprocessing steps, in its order.
    """
    flip_rng, dq_rng = jax.random.split(rng)
    x = images.astype(jnp.float32)
    if uniform_dequantization:
        x = (x + jax.random.uniform(dq_rng, x.shape)) / 256.0
    else:
        x = x / 255.0
    if random_flip:
        flip = jax.random.bernoulli(flip_rng, 0.5, (x.shape[0], 1, 1, 1))
        x = jnp.where(flip, jnp.flip(x, axis=2), x)
    return 2.0 * x - 1.0 if centered else x


def to_uint8(x: Array, *, centered: bool) -> np.ndarray:
    """Model-range images (B, H, W, C) back to uint8 pixels (rounded and clipped)."""
    x = np.asarray(x, np.float32)
    if centered:
        x = (x + 1.0) / 2.0
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
