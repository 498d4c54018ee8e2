"""2x up- and down-sampling of NHWC images: FIR filtering (upfirdn2d, StyleGAN2) and naive.

upfirdn2d zero-inserts by `up`, pads, convolves with a 2-D FIR kernel and keeps every `down`-th
pixel; here it is one depthwise `lax.conv_general_dilated`, so XLA fuses it.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def fir_kernel_2d(kernel: Sequence[float]) -> np.ndarray:
    """The separable kernel k k^T of a 1-D FIR kernel, normalised to sum 1."""
    k = np.asarray(kernel, np.float32)
    k = np.outer(k, k) if k.ndim == 1 else k
    return k / k.sum()


def upfirdn2d(x: Array, kernel: np.ndarray, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Array:
    """Upsample (zero insertion), FIR-filter (true convolution with `kernel`) and downsample x (B, H, W, C)."""
    channels = x.shape[-1]
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    weights = jnp.broadcast_to(jnp.asarray(flipped, x.dtype)[:, :, None, None], flipped.shape + (1, channels))
    # lhs_dilation inserts up - 1 zeros between pixels; upfirdn2d also appends them after the last.
    padding = [(pad[0], pad[1] + up - 1)] * 2
    return jax.lax.conv_general_dilated(
        x,
        weights,
        window_strides=(down, down),
        padding=padding,
        lhs_dilation=(up, up),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=channels,
    )


def upsample_2d(x: Array, kernel: Sequence[float], factor: int = 2) -> Array:
    """FIR upsampling by `factor`: (B, H, W, C) -> (B, factor H, factor W, C)."""
    k = fir_kernel_2d(kernel) * factor**2
    p = k.shape[0] - factor
    return upfirdn2d(x, k, up=factor, pad=((p + 1) // 2 + factor - 1, p // 2))


def downsample_2d(x: Array, kernel: Sequence[float], factor: int = 2) -> Array:
    """FIR downsampling by `factor`: (B, H, W, C) -> (B, H / factor, W / factor, C)."""
    k = fir_kernel_2d(kernel)
    p = k.shape[0] - factor
    return upfirdn2d(x, k, down=factor, pad=((p + 1) // 2, p // 2))


def upsample_conv_2d(x: Array, w: Array, kernel: Sequence[float], factor: int = 2) -> Array:
    """Fused upsampling and convolution with w (kh, kw, in, out): a stride-`factor` transposed
    convolution followed by FIR filtering, (B, H, W, in) -> (B, factor H, factor W, out)."""
    kh = w.shape[0]
    x = jax.lax.conv_general_dilated(
        x,
        w,
        window_strides=(1, 1),
        padding=[(kh - 1, kh - 1)] * 2,
        lhs_dilation=(factor, factor),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    k = fir_kernel_2d(kernel) * factor**2
    p = (k.shape[0] - factor) - (kh - 1)
    return upfirdn2d(x, k, pad=((p + 1) // 2 + factor - 1, p // 2 + 1))


def conv_downsample_2d(x: Array, w: Array, kernel: Sequence[float], factor: int = 2) -> Array:
    """Fused FIR filtering and stride-`factor` convolution with w (kh, kw, in, out)."""
    k = fir_kernel_2d(kernel)
    p = (k.shape[0] - factor) + (w.shape[0] - 1)
    x = upfirdn2d(x, k, pad=((p + 1) // 2, p // 2))
    return jax.lax.conv_general_dilated(
        x, w, window_strides=(factor, factor), padding="VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def naive_upsample_2d(x: Array, factor: int = 2) -> Array:
    """Nearest-neighbour upsampling: each pixel repeated factor x factor times."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def naive_downsample_2d(x: Array, factor: int = 2) -> Array:
    """Average pooling over factor x factor blocks."""
    B, H, W, C = x.shape
    return jnp.mean(jnp.reshape(x, (B, H // factor, factor, W // factor, factor, C)), axis=(2, 4))
