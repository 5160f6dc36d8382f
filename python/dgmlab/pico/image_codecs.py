"""JPEG and WebP baselines at matched bits: the test images tiled into one mosaic and coded as one file, so the
codec's headers are shared across images the way one PICO bitstream shares its header (bits per image =
8 * file bytes / N). An 8x8 digit is exactly one JPEG block, so tiling does not mix images inside a block.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CODECS", "codec_roundtrip", "mosaic", "unmosaic"]

CODECS = ("jpeg", "webp")


def mosaic(images: np.ndarray, cols: int = 32) -> np.ndarray:
    """(N, h, w) uint8 -> one (rows * h, cols * w) image, padded with zero tiles."""
    n, h, w = images.shape
    rows = -(-n // cols)
    padded = np.zeros((rows * cols, h, w), np.uint8)
    padded[:n] = images
    return padded.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def unmosaic(image: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    rows, cols = image.shape[0] // h, image.shape[1] // w
    return image.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(rows * cols, h, w)[:n]


def codec_roundtrip(images: np.ndarray, codec: str, quality: int) -> tuple[np.ndarray, float]:
    """Decoded images (N, h, w) uint8 and bits per image for ``codec`` ('jpeg' or 'webp') at ``quality`` 0..100."""
    import imagecodecs

    if codec not in CODECS:
        raise ValueError(f"codec: expected one of {CODECS}, got {codec!r}")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality: expected 0..100, got {quality}")
    n, h, w = images.shape
    big = mosaic(images)
    if codec == "jpeg":
        data = imagecodecs.jpeg8_encode(big, level=quality)
        out = imagecodecs.jpeg8_decode(data)
    else:
        data = imagecodecs.webp_encode(np.repeat(big[..., None], 3, -1), level=quality, lossless=False)
        out = imagecodecs.webp_decode(data)[..., :3].mean(-1).round().astype(np.uint8)
    return unmosaic(out, n, h, w), 8.0 * len(data) / n
