"""Natural-image patches cut from photographs that ship inside installed packages (no download at run time).

Train sources are every photograph scikit-image bundles without a download (colour, and greyscale ones repeated into
three channels); held-out sources are scikit-learn's two sample photos (``china.jpg``, ``flower.jpg``), and
matplotlib's ``grace_hopper.jpg`` (the image of README's first command) is kept out of training too, so train and
held-out never share a source image. Synthetic images (``colorwheel``, ``logo``, ``shepp_logan_phantom``, ``horse``,
matplotlib's icons) are left out.
"""

from __future__ import annotations

import numpy as np

from dgmlab.data.patches import check_image, tiles

TRAIN_SOURCES: tuple[str, ...] = (
    "skimage:astronaut",
    "skimage:coffee",
    "skimage:chelsea",
    "skimage:rocket",
    "skimage:motorcycle_left",
    "skimage:motorcycle_right",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
    "skimage:retina",
    "skimage:brick",
    "skimage:camera",
    "skimage:cell",
    "skimage:clock",
    "skimage:coins",
    "skimage:grass",
    "skimage:gravel",
    "skimage:moon",
    "skimage:page",
    "skimage:text",
    "skimage:microaneurysms",
)
GREYSCALE_SOURCES: tuple[str, ...] = TRAIN_SOURCES[9:]
"""The training photographs that are greyscale (repeated into three identical channels)."""
HELDOUT_SOURCES: tuple[str, ...] = ("sklearn:china.jpg", "sklearn:flower.jpg")
DEMO_SOURCES: tuple[str, ...] = ("matplotlib:grace_hopper.jpg",)
"""Never trained on, not in the held-out tiles either (README's first command compresses it whole)."""


def _rgb(image: np.ndarray, name: str) -> np.ndarray:
    """Greyscale ``(H, W)`` -> ``(H, W, 3)``; RGB passes through; then validated."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return check_image(image, name)


def load_source(name: str) -> np.ndarray:
    """Load one bundled photograph by name (``skimage:<function>``, ``sklearn:<file>`` or ``matplotlib:<file>``)
    as uint8 RGB."""
    package, _, item = name.partition(":")
    if package == "skimage":
        import skimage.data

        if item.startswith("motorcycle_"):
            left, right, _ = skimage.data.stereo_motorcycle()
            return _rgb(left if item.endswith("left") else right, name)
        if not hasattr(skimage.data, item):
            raise ValueError(f"unknown scikit-image image {item!r} in source {name!r}")
        return _rgb(getattr(skimage.data, item)(), name)
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        return _rgb(load_sample_image(item), name)
    if package == "matplotlib":
        from pathlib import Path

        import matplotlib
        from PIL import Image

        path = Path(matplotlib.get_data_path()) / "sample_data" / item
        if not path.is_file():
            raise ValueError(f"source {name!r}: no {path}")
        with Image.open(path) as im:
            return _rgb(np.asarray(im.convert("RGB")), name)
    raise ValueError(f"source {name!r}: expected 'skimage:<name>', 'sklearn:<file>' or 'matplotlib:<file>'")


def train_sources(colour_only: bool = False) -> tuple[str, ...]:
    """Names of the training photographs, optionally without the greyscale ones."""
    return tuple(n for n in TRAIN_SOURCES if not (colour_only and n in GREYSCALE_SOURCES))


def natural_images(split: str = "train", colour_only: bool = False) -> list[np.ndarray]:
    """The whole source photographs of a split (``train``, ``heldout`` or ``demo``); ``colour_only`` leaves the
    greyscale training photographs out."""
    sources = {"train": train_sources(colour_only), "heldout": HELDOUT_SOURCES, "demo": DEMO_SOURCES}
    if split not in sources:
        raise ValueError(f"split must be one of {sorted(sources)}, got {split!r}")
    return [load_source(n) for n in sources[split]]


def natural_patches(split: str = "heldout", size: int = 64) -> np.ndarray:
    """Non-overlapping ``size x size`` tiles of every source image of a split, uint8 ``(N, size, size, 3)``."""
    return np.concatenate([tiles(im, size) for im in natural_images(split)])
