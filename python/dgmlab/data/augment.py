"""Label-free augmentation of training crops.

Geometric kinds are symmetries that natural photographs (approximately) have. Photometric kinds imitate how the
photographs users compress were made: decoded JPEGs (the held-out photos and README's demo are JPEG files, whose
smooth and saturated regions the bundled training photographs rarely show), smooth out-of-focus or upsampled areas,
and over-exposed or vivid colours with channels clipped at 0 or 255. A kind is ``none`` or parts joined by ``+``,
applied in this order:

- ``flip``: random horizontal mirror; ``flip-rot``: that plus a random multiple of 90 degrees (square crops);
- ``zoom``: half the crops are replaced by a random square of 1/2 to 1 of their side, upsampled back (bicubic);
- ``gain``: half the crops are dequantised, scaled by an exposure gain in [1, e^0.5] times a per-channel gain in
  [e^-0.1, e^0.1], requantised and clipped to [0, 255] (the dequantisation noise fills the gaps a plain integer
  gain would leave in the histogram);
- ``saturate``: half the crops get their colours pushed away from each pixel's luma by a factor in [1, 2] (vivid
  colour processing; saturated colours clip single channels at 0 or 255, as greens do in red), dequantised and
  requantised the same way;
- ``jpeg``: half the crops are JPEG-encoded at a quality from 50 to 95, 4:4:4 or 4:2:0 chroma, and decoded.
"""

from __future__ import annotations

import io

import numpy as np

GEOMETRIC = ("flip", "flip-rot")
PHOTOMETRIC = ("zoom", "gain", "saturate", "jpeg")
AUGMENTATIONS = ("none", *GEOMETRIC, *PHOTOMETRIC)
"""The parts a kind is made of (see the module docstring); e.g. ``flip-rot+zoom+gain+saturate+jpeg``."""

_PROBABILITY = 0.5  # of each photometric part, per crop: the model keeps seeing the photographs as they are


def parse_augmentation(kind: str) -> tuple[str, ...]:
    """The parts of ``kind`` in application order; ``ValueError`` unless each is a known part, used once, with at
    most one geometric part."""
    parts = () if kind == "none" else tuple(kind.split("+"))
    unknown = [p for p in parts if p not in AUGMENTATIONS or p == "none"]
    if unknown or len(set(parts)) != len(parts) or sum(p in GEOMETRIC for p in parts) > 1:
        raise ValueError(
            f"augment must be one of {AUGMENTATIONS} or parts joined by '+' (each once, one of {GEOMETRIC}), "
            f"got {kind!r}"
        )
    order = (*GEOMETRIC, *PHOTOMETRIC)
    return tuple(sorted(parts, key=order.index))


def check_augmentation(kind: str) -> None:
    """Raise ``ValueError`` unless ``kind`` is a valid augmentation (see :func:`parse_augmentation`)."""
    parse_augmentation(kind)


def _zoom(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    size = crop.shape[0]
    side = int(rng.integers(size // 2, size + 1))
    top, left = rng.integers(0, size - side + 1, 2)
    part = Image.fromarray(np.ascontiguousarray(crop[top : top + side, left : left + side]))
    return np.asarray(part.resize((size, size), Image.BICUBIC))


def _dequantise(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each uint8 value v as a uniform draw from [v, v + 1): a colour map of it then leaves no gaps in the histogram."""
    return crop + rng.random(crop.shape)


def _requantise(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_dequantise` for values mapped from it, clipped to [0, 255]."""
    return np.clip(np.floor(x), 0, 255).astype(np.uint8)


def _gain(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = np.exp(rng.uniform(0.0, 0.5) + rng.uniform(-0.1, 0.1, 3))
    return _requantise(_dequantise(crop, rng) * gain)


_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as JPEG's YCbCr


def _saturate(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = rng.uniform(1.0, 2.0)
    x = _dequantise(crop, rng)
    luma = (x @ _LUMA)[..., None]
    return _requantise(luma + factor * (x - luma))


def _jpeg(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = int(rng.integers(50, 96))
    subsampling = 0 if rng.random() < 0.5 else 2  # 4:4:4 or 4:2:0
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


_PHOTOMETRIC_STEPS = {"zoom": _zoom, "gain": _gain, "saturate": _saturate, "jpeg": _jpeg}


def augment(crops: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Randomly transformed copies of uint8 ``(N, S, S, 3)`` crops; draws from ``rng`` only when ``kind != 'none'``,
    so runs stay exactly reproducible (and resumable) from the generator's state."""
    parts = parse_augmentation(kind)
    if not parts:
        return crops
    if crops.ndim != 4 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"augment expects square crops (N, S, S, C), got shape {crops.shape}")
    if set(parts) & set(PHOTOMETRIC) and (crops.shape[3] != 3 or crops.dtype != np.uint8):
        raise ValueError(f"augment {kind!r} expects uint8 RGB crops (N, S, S, 3), got {crops.dtype} {crops.shape}")
    out = crops.copy()
    if parts[0] in GEOMETRIC:
        flip = rng.random(len(out)) < 0.5
        out[flip] = out[flip, :, ::-1]
        if parts[0] == "flip-rot":
            turns = rng.integers(0, 4, len(out))
            for i, k in enumerate(turns):
                out[i] = np.rot90(out[i], k)
    for part in parts:
        if part in _PHOTOMETRIC_STEPS:
            chosen = np.flatnonzero(rng.random(len(out)) < _PROBABILITY)
            for i in chosen:
                out[i] = _PHOTOMETRIC_STEPS[part](out[i], rng)
    return out
