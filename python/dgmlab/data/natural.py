"""Natural-image patches cut from photographs that ship inside installed packages (no download at run time).

Train sources are scikit-image's bundled photographs; held-out sources are scikit-learn's two sample photos
(``china.jpg``, ``flower.jpg``), so train and held-out never share a source image.
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
)
HELDOUT_SOURCES: tuple[str, ...] = ("sklearn:china.jpg", "sklearn:flower.jpg")


def load_source(name: str) -> np.ndarray:
    """Load one bundled photograph by name (``skimage:<function>`` or ``sklearn:<file>``) as uint8 RGB."""
    package, _, item = name.partition(":")
    if package == "skimage":
        import skimage.data

        if item.startswith("motorcycle_"):
            left, right, _ = skimage.data.stereo_motorcycle()
            return check_image(left if item.endswith("left") else right, name)
        if not hasattr(skimage.data, item):
            raise ValueError(f"unknown scikit-image image {item!r} in source {name!r}")
        return check_image(getattr(skimage.data, item)(), name)
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        return check_image(load_sample_image(item), name)
    raise ValueError(f"source {name!r}: expected 'skimage:<name>' or 'sklearn:<file>'")


def natural_images(split: str = "train") -> list[np.ndarray]:
    """The whole source photographs of a split (``train`` or ``heldout``)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    return [load_source(n) for n in (TRAIN_SOURCES if split == "train" else HELDOUT_SOURCES)]


def natural_patches(split: str = "heldout", size: int = 64) -> np.ndarray:
    """Non-overlapping ``size x size`` tiles of every source image of a split, uint8 ``(N, size, size, 3)``."""
    return np.concatenate([tiles(im, size) for im in natural_images(split)])
