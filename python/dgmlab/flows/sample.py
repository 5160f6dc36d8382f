"""Sampling from a trained Flow++ and writing sample grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def grid(images: torch.Tensor | np.ndarray, pad: int = 2) -> np.ndarray:
    """Tile uint8 images (NCHW tensor or NHWC array) into one near-square RGB uint8 array with white padding."""
    arr = images.permute(0, 2, 3, 1).cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    n, h, w, c = arr.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i, im in enumerate(arr):
        r, q = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = im
    return out


def save_grid(images: torch.Tensor | np.ndarray, path: str | Path, scale: int = 2) -> Path:
    """Write a PNG grid of images, upscaled ``scale`` times with nearest neighbour so pixels stay visible."""
    g = Image.fromarray(grid(images))
    g = g.resize((g.width * scale, g.height * scale), Image.NEAREST)
    g.save(path)
    return Path(path)


def sample_images(
    model: torch.nn.Module,
    n: int,
    size: int | None = None,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
) -> torch.Tensor:
    """``n`` uint8 NCHW samples, drawn in batches with a seeded generator."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = [model.sample(min(batch_size, n - i), size, temperature, gen) for i in range(0, n, batch_size)]
    return torch.cat(out)
