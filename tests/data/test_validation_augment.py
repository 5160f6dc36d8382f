"""Validation splits cut from training images, and training-crop augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.data.augment import augment, parse_augmentation
from dgmlab.data.natural import TRAIN_SOURCES
from dgmlab.data.patches import random_crops
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


def _smooth_crops(n: int, size: int = 32) -> np.ndarray:
    """Smooth colour ramps with a little noise: what JPEG and bicubic upsampling keep close."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 1, size)
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(20, 200, 3), rng.uniform(-40, 40, 3), rng.uniform(-40, 40, 3)
        image = a + b * ramp[:, None, None] + c * ramp[None, :, None] + rng.normal(0, 1, (size, size, 3))
        out.append(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.mark.parametrize("part", ["zoom", "gain", "saturate", "jpeg"])
def test_photometric_parts_change_about_half_the_crops_reproducibly(part) -> None:
    crops = _smooth_crops(64)
    first = augment(crops, part, np.random.default_rng(5))
    assert np.array_equal(first, augment(crops, part, np.random.default_rng(5))) and first.dtype == np.uint8
    changed = [i for i in range(len(crops)) if not np.array_equal(first[i], crops[i])]
    assert 16 <= len(changed) <= 48
    for i in changed:
        before, after = crops[i].astype(np.int64), first[i].astype(np.int64)
        if part == "gain":  # a monotone map of each channel: a brighter input never gets a darker output
            for ch in range(3):
                order = np.argsort(before[..., ch], axis=None, kind="stable")
                values, outputs = before[..., ch].ravel()[order], after[..., ch].ravel()[order]
                strictly = np.diff(values) > 0
                assert (np.diff(outputs)[strictly] >= 0).all()
        elif part == "saturate":  # each pixel's luma stays, up to dequantisation and clipping
            luma = np.array([0.299, 0.587, 0.114])
            inside = ((after > 0) & (after < 255)).all(axis=-1)
            assert np.abs(before @ luma - after @ luma)[inside].max(initial=0.0) < 1.5
        else:  # JPEG and upsampling keep a smooth ramp close (zoom: the ramp's local values)
            assert np.abs(after - before).mean() < (3 if part == "jpeg" else 25)


def test_zoom_keeps_a_constant_crop_and_gain_saturates_bright_ones() -> None:
    flat = np.full((32, 16, 16, 3), 90, dtype=np.uint8)
    assert np.array_equal(augment(flat, "zoom", np.random.default_rng(0)), flat)
    bright = np.full((64, 16, 16, 3), 240, dtype=np.uint8)
    out = augment(bright, "gain", np.random.default_rng(0))
    assert (out == 255).any() and out.min() >= 240 * np.exp(-0.1) - 1


def test_saturate_clips_single_channels_of_vivid_colours_at_both_ends() -> None:
    green = np.broadcast_to(np.array([40, 160, 60], np.uint8), (64, 16, 16, 3)).copy()
    out = augment(green, "saturate", np.random.default_rng(0))
    assert (out[..., 0] == 0).mean() > 0.1 and (out[..., 1] > 160).mean() > 0.3


def test_augmentation_kinds_are_parsed_in_order_and_bad_ones_rejected() -> None:
    assert parse_augmentation("jpeg+flip-rot+zoom") == ("flip-rot", "zoom", "jpeg")
    assert parse_augmentation("none") == ()
    for bad in ("flip+flip-rot", "jpeg+jpeg", "none+jpeg", "jpeg+", "blur"):
        with pytest.raises(ValueError, match="augment must be one of"):
            parse_augmentation(bad)
    with pytest.raises(ValueError, match="uint8 RGB"):
        augment(np.zeros((2, 8, 8, 3), dtype=np.float32), "jpeg", np.random.default_rng(0))


def test_crops_pick_their_image_by_area_or_uniformly() -> None:
    big, small = np.zeros((208, 208, 3), np.uint8), np.full((24, 24, 3), 255, np.uint8)
    by_area = random_crops([big, small], 16, 2000, np.random.default_rng(0))
    by_image = random_crops([big, small], 16, 2000, np.random.default_rng(0), weighting="image")
    assert (by_area[:, 0, 0, 0] == 255).mean() < 0.01  # 81 of 37,000 positions
    assert 0.45 < (by_image[:, 0, 0, 0] == 255).mean() < 0.55
    with pytest.raises(ValueError, match="weighting must be one of"):
        random_crops([big], 16, 1, np.random.default_rng(0), weighting="pixel")
