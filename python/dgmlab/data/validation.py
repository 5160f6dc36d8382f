"""Validation data cut from the *training* images, for early stopping without touching the held-out test images.

Two ways to cut it (``spec``):

* ``strip:F`` -- the bottom fraction ``F`` of every training photograph (at least one tile high) is held out and
  the rest stays for training; datasets of many equal-size small images (car racing, CIFAR) hold out their last
  ``F`` of the images instead (for car racing: the end of the last episode).
* ``sources:A,B`` (``natural`` / ``natural:colour`` data only) -- these source photographs are held out whole (cross-image
  generalisation, the kind the held-out test measures).

The validation images are cut into non-overlapping ``tile x tile`` tiles, of which ``limit`` evenly spaced ones are
kept (a fixed set, so successive evaluations are comparable).
"""

from __future__ import annotations

import numpy as np

from dgmlab.data.patches import tiles

VAL_HELP = (
    "strip:F (bottom fraction F of every training image) | sources:A,B (natural only: whole photographs)"
)


def split_validation(
    images: list[np.ndarray], spec: str, data: str, tile: int, limit: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """``(train images, validation tiles (N, tile, tile, 3))`` for a validation ``spec`` (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "strip":
        train, held = _strip(images, arg, tile)
    elif kind == "sources":
        train, held = _sources(images, arg, data)
    else:
        raise ValueError(f"val spec {spec!r}: expected {VAL_HELP}")
    val = np.concatenate([tiles(im, tile) for im in held])
    if limit < 1:
        raise ValueError(f"val_images must be at least 1, got {limit}")
    keep = np.unique(np.linspace(0, len(val) - 1, min(limit, len(val))).astype(int))
    return train, val[keep]


def _strip(images: list[np.ndarray], arg: str, tile: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    try:
        fraction = float(arg)
    except ValueError:
        fraction = -1.0
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val strip:F needs a fraction 0 < F < 1, got {arg!r}")
    shapes = {im.shape for im in images}
    if len(shapes) == 1 and len(images) > 1 and max(next(iter(shapes))[:2]) <= 2 * tile:
        # many small equal-size images: hold out whole images at the end (their order is kept: episodes, batches)
        cut = len(images) - max(1, round(fraction * len(images)))
        if cut < 1:
            raise ValueError(f"val strip:{arg} leaves no training images out of {len(images)}")
        return images[:cut], images[cut:]
    train, held = [], []
    for im in images:
        rows = max(tile, round(fraction * im.shape[0]))
        if im.shape[0] - rows < tile or im.shape[1] < tile:
            raise ValueError(
                f"val strip:{arg}: an image of shape {im.shape[:2]} cannot give a {tile}-row validation strip and "
                f"keep {tile} rows for training; use a smaller crop size or the sources:... split"
            )
        train.append(np.ascontiguousarray(im[: im.shape[0] - rows]))
        held.append(np.ascontiguousarray(im[im.shape[0] - rows :]))
    return train, held


def _sources(images: list[np.ndarray], arg: str, data: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if data not in ("natural", "natural:colour"):
        raise ValueError(
            f"val sources:... names photographs of the 'natural' data only, not {data!r}; use strip:F"
        )
    from dgmlab.data.natural import train_sources

    known = train_sources(colour_only=data == "natural:colour")

    names = [n for n in arg.split(",") if n]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise ValueError(
            f"val sources: unknown or missing names {unknown or names!r}; choose from {known}"
        )
    if len(images) != len(known):
        raise ValueError(f"expected the {len(known)} natural training images, got {len(images)}")
    held = {known.index(n) for n in names}
    if len(held) == len(images):
        raise ValueError("val sources: every training photograph would be held out; leave some for training")
    return [im for i, im in enumerate(images) if i not in held], [images[i] for i in sorted(held)]
