"""Cutting fixed-size patches out of images: non-overlapping tiles (evaluation) and random crops (training)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an RGB uint8 ``(H, W, 3)`` image and return it as a contiguous array."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name}: expected a uint8 (H, W, 3) RGB array, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def tiles(image: np.ndarray, size: int) -> np.ndarray:
    """All non-overlapping ``size x size`` tiles of an image, row-major; edges that do not fill a tile are dropped."""
    image = check_image(image)
    rows, cols = image.shape[0] // size, image.shape[1] // size
    if rows == 0 or cols == 0:
        raise ValueError(f"image of shape {image.shape[:2]} is smaller than one {size}x{size} tile")
    cut = image[: rows * size, : cols * size]
    return cut.reshape(rows, size, cols, size, 3).transpose(0, 2, 1, 3, 4).reshape(-1, size, size, 3)


CROP_WEIGHTINGS = ("area", "image")


def check_crop_weighting(weighting: str, name: str = "weighting") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``weighting`` is one of ``CROP_WEIGHTINGS``."""
    if weighting not in CROP_WEIGHTINGS:
        raise ValueError(f"{name} must be one of {CROP_WEIGHTINGS}, got {weighting!r}")


def random_crops(
    images: Sequence[np.ndarray], size: int, count: int, rng: np.random.Generator, weighting: str = "area"
) -> np.ndarray:
    """``count`` random ``size x size`` crops, each from an image chosen with probability proportional to its area
    (``weighting="area"``: every pixel position equally likely) or uniformly (``"image"``: every image counts the
    same, so a few large images do not dominate)."""
    check_crop_weighting(weighting)
    areas = np.array([(im.shape[0] - size + 1) * (im.shape[1] - size + 1) for im in images], dtype=np.float64)
    if np.any(areas <= 0):
        raise ValueError(f"every image must be at least {size}x{size}; got {[im.shape[:2] for im in images]}")
    weights = areas if weighting == "area" else np.ones_like(areas)
    which = rng.choice(len(images), size=count, p=weights / weights.sum())
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i, k in enumerate(which):
        im = images[k]
        top = rng.integers(0, im.shape[0] - size + 1)
        left = rng.integers(0, im.shape[1] - size + 1)
        out[i] = im[top : top + size, left : left + size]
    return out
