"""Label-free augmentation of training crops: symmetries that natural photographs (approximately) have."""

from __future__ import annotations

import numpy as np

AUGMENTATIONS = ("none", "flip", "flip-rot")
"""``flip``: random horizontal mirror; ``flip-rot``: that plus a random multiple of 90 degrees (square crops)."""


def check_augmentation(kind: str) -> None:
    """Raise ``ValueError`` unless ``kind`` names one of ``AUGMENTATIONS``."""
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {kind!r}")


def augment(crops: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Randomly transformed copies of uint8 ``(N, S, S, 3)`` crops; draws from ``rng`` only when ``kind != 'none'``,
    so runs stay exactly reproducible (and resumable) from the generator's state."""
    check_augmentation(kind)
    if kind == "none":
        return crops
    if crops.ndim != 4 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"augment expects square crops (N, S, S, C), got shape {crops.shape}")
    out = crops.copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    if kind == "flip-rot":
        turns = rng.integers(0, 4, len(out))
        for i, k in enumerate(turns):
            out[i] = np.rot90(out[i], k)
    return out
