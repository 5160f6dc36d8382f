"""Dataset specs used by the ``dgmlab`` commands: one string names where images come from.

``natural`` (``natural:colour``: without the greyscale training photographs), ``car-racing``, ``folder:PATH``, ``cifar10:ROOT``, ``imagenet:FILE.npz``. :func:`load_images` returns a
list of uint8 RGB ``(H, W, 3)`` images (or one ``(N, H, W, 3)`` array when they share a shape).
"""

from __future__ import annotations

import numpy as np

SPEC_HELP = "natural | natural:colour | car-racing | folder:PATH | cifar10:ROOT | imagenet:FILE.npz"


def load_images(spec: str, split: str = "train") -> list[np.ndarray] | np.ndarray:
    """Images of ``split`` (``train`` / ``heldout``) for a dataset spec.

    ``natural`` held-out images are the 64x64 tiles of the held-out photographs; ``car-racing`` uses separate
    episodes; ``cifar10`` maps ``heldout`` to the test batch; ``folder`` and ``imagenet`` ignore ``split`` (give a
    separate path for held-out data).
    """
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    kind, _, path = spec.partition(":")
    if kind == "natural" and path in ("", "colour"):
        from dgmlab.data.natural import natural_images, natural_patches

        if split == "train":
            return natural_images("train", colour_only=path == "colour")
        return natural_patches("heldout", 64)
    if kind == "car-racing" and not path:
        from dgmlab.data.car_racing import car_racing_frames

        return car_racing_frames(split)
    if kind == "folder" and path:
        from dgmlab.data.folders import image_folder

        return image_folder(path)
    if kind == "cifar10" and path:
        from dgmlab.data.cifar import read_cifar10

        return read_cifar10(path, "train" if split == "train" else "test")
    if kind == "imagenet" and path:
        from dgmlab.data.cifar import read_imagenet_npz

        return read_imagenet_npz(path)
    raise ValueError(f"unknown dataset spec {spec!r}; expected {SPEC_HELP}")
