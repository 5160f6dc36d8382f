"""Folders of PNG / JPEG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as uint8 RGB ``(H, W, 3)``; grayscale and palette images are converted, 16-bit rejected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I", "F"):
                raise ValueError(f"{path}: mode {im.mode} (more than 8 bits per channel) is not supported")
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not a readable image file") from exc


def image_folder(root: str | Path) -> list[np.ndarray]:
    """All images under ``root`` (recursively, sorted by path) with a known suffix, as uint8 RGB arrays."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{root}: no images with suffix {', '.join(IMAGE_SUFFIXES)}")
    return [read_image(p) for p in paths]
