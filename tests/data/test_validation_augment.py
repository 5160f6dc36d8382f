"""Validation splits cut from training images, and training-crop augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.data.augment import augment
from dgmlab.data.natural import TRAIN_SOURCES
from dgmlab.data.validation import split_validation


def _images(shapes) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in shapes]


def test_strip_holds_out_the_bottom_rows_of_every_image() -> None:
    images = _images([(80, 40), (100, 70)])
    train, val = split_validation(images, "strip:0.25", "folder:x", tile=8, limit=1000)
    assert [t.shape[:2] for t in train] == [(60, 40), (75, 70)]
    assert np.array_equal(train[1], images[1][:75])
    # 20 x 40 strip -> 2 x 5 tiles, 25 x 70 strip -> 3 x 8 tiles, all of them from below the training rows
    assert val.shape == (2 * 5 + 3 * 8, 8, 8, 3)
    assert np.array_equal(val[0], images[0][60:68, 0:8]) and np.array_equal(val[10], images[1][75:83, 0:8])
    _, few = split_validation(images, "strip:0.25", "folder:x", tile=8, limit=5)
    assert len(few) == 5 and np.array_equal(few[0], val[0]) and np.array_equal(few[-1], val[-1])


def test_strip_of_many_small_images_holds_out_the_last_ones() -> None:
    images = _images([(16, 16)] * 10)
    train, val = split_validation(images, "strip:0.2", "car-racing", tile=16, limit=64)
    assert len(train) == 8 and len(val) == 2 and np.array_equal(val[1], images[9])


def test_sources_hold_out_whole_natural_photographs() -> None:
    images = _images([(40 + i, 48) for i in range(len(TRAIN_SOURCES))])
    names = f"{TRAIN_SOURCES[1]},{TRAIN_SOURCES[3]}"
    train, val = split_validation(images, f"sources:{names}", "natural", tile=16, limit=1000)
    assert len(train) == len(TRAIN_SOURCES) - 2
    assert not any(t is images[1] or t is images[3] for t in train)
    assert len(val) == 2 * 3 + 2 * 3 and np.array_equal(val[0], images[1][:16, :16])


@pytest.mark.parametrize(
    ("spec", "data", "match"),
    [
        ("strip:1.5", "folder:x", "0 < F < 1"),
        ("strip:abc", "folder:x", "0 < F < 1"),
        ("rows:0.1", "folder:x", "expected strip:F"),
        ("sources:skimage:coffee", "folder:x", "natural"),
        ("sources:skimage:nope", "natural", "unknown or missing"),
        ("sources:", "natural", "unknown or missing"),
    ],
)
def test_bad_validation_specs_are_rejected(spec, data, match) -> None:
    images = _images([(64, 64)] * len(TRAIN_SOURCES))
    with pytest.raises(ValueError, match=match):
        split_validation(images, spec, data, tile=16, limit=8)


def test_a_strip_that_leaves_too_few_training_rows_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot give"):
        split_validation(_images([(20, 64), (64, 64)]), "strip:0.5", "folder:x", tile=16, limit=8)


def _dihedral(crop: np.ndarray) -> list[np.ndarray]:
    return [np.rot90(c, k) for c in (crop, crop[:, ::-1]) for k in range(4)]


@pytest.mark.parametrize("kind", ["flip", "flip-rot"])
def test_augment_is_a_symmetry_of_each_crop_and_reproducible(kind) -> None:
    crops = _images([(8, 8)] * 64)
    crops = np.stack(crops)
    first = augment(crops, kind, np.random.default_rng(7))
    again = augment(crops, kind, np.random.default_rng(7))
    assert np.array_equal(first, again) and not np.array_equal(first, crops)
    allowed = 2 if kind == "flip" else 8
    for before, after in zip(crops, first, strict=True):
        matches = [i for i, t in enumerate(_dihedral(before)) if np.array_equal(t, after)]
        assert matches and (kind == "flip-rot" or matches[0] in (0, 4))
    seen = {next(i for i, t in enumerate(_dihedral(b)) if np.array_equal(t, a)) for b, a in zip(crops, first)}
    assert len(seen) == allowed  # every transform occurs among 64 crops


def test_augment_none_leaves_crops_and_generator_untouched() -> None:
    crops = np.stack(_images([(8, 8)] * 4))
    rng = np.random.default_rng(3)
    assert augment(crops, "none", rng) is crops
    assert rng.random() == np.random.default_rng(3).random()
    with pytest.raises(ValueError, match="augment must be one of"):
        augment(crops, "colour", rng)


def test_colour_only_natural_data_and_its_validation_sources() -> None:
    from dgmlab.data.natural import GREYSCALE_SOURCES, load_source, train_sources

    colour = train_sources(colour_only=True)
    assert len(colour) == len(TRAIN_SOURCES) - len(GREYSCALE_SOURCES) and not set(colour) & set(GREYSCALE_SOURCES)
    grey, rgb = load_source("skimage:text"), load_source("skimage:chelsea")
    assert (grey[..., 0] == grey[..., 2]).all() and not (rgb[..., 0] == rgb[..., 2]).all()
    images = _images([(40, 48)] * len(colour))
    train, _ = split_validation(images, f"sources:{colour[-1]}", "natural:colour", tile=16, limit=8)
    assert len(train) == len(colour) - 1 and train[-1] is images[-2]
    with pytest.raises(ValueError, match="unknown or missing"):
        split_validation(images, f"sources:{GREYSCALE_SOURCES[0]}", "natural:colour", tile=16, limit=8)
