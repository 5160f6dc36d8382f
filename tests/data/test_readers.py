"""Dataset readers on small files in the real formats (written here), and their errors on bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from dgmlab.data.cifar import read_cifar10, read_cifar_batch, read_imagenet_npz
from dgmlab.data.folders import image_folder, read_image
from dgmlab.data.patches import random_crops, tiles
from dgmlab.data.registry import load_images


def _cifar_batch(path, n: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)
    with open(path, "wb") as f:
        pickle.dump(
            {b"batch_label": b"testing", b"labels": [0] * n, b"data": data, b"filenames": [b"a"] * n}, f
        )
    return data


def test_cifar_batches_are_read_in_hwc_order(tmp_path) -> None:
    for i in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{i}", 2, i)
    data = _cifar_batch(tmp_path / "test_batch", 3, 0)
    test = read_cifar10(tmp_path, "test")
    assert test.shape == (3, 32, 32, 3)
    assert test[1, 4, 5, 2] == data[1, 2 * 1024 + 4 * 32 + 5]  # channel-major rows in the file
    assert read_cifar10(tmp_path, "train").shape == (10, 32, 32, 3)


def test_cifar_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="CIFAR-10 batch not found"):
        read_cifar_batch(tmp_path / "data_batch_1")
    (tmp_path / "garbage").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        read_cifar_batch(tmp_path / "garbage")
    with open(tmp_path / "wrong", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8)}, f)
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        read_cifar_batch(tmp_path / "wrong")
    with open(tmp_path / "evil", "wb") as f:
        pickle.dump({b"data": print}, f)
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar_batch(tmp_path / "evil")
    with pytest.raises(ValueError, match="split"):
        read_cifar10(tmp_path, "validation")


def test_imagenet_npz(tmp_path) -> None:
    data = np.random.default_rng(0).integers(0, 256, (4, 3 * 64 * 64), dtype=np.uint8)
    np.savez(tmp_path / "val_data.npz", data=data, labels=np.arange(4))
    images = read_imagenet_npz(tmp_path / "val_data.npz")
    assert images.shape == (4, 64, 64, 3) and images[2, 1, 3, 1] == data[2, 4096 + 64 + 3]
    np.savez(tmp_path / "nodata.npz", x=data)
    with pytest.raises(ValueError, match="no 'data' array"):
        read_imagenet_npz(tmp_path / "nodata.npz")
    np.savez(tmp_path / "odd.npz", data=data[:, :1000])
    with pytest.raises(ValueError, match="do not hold"):
        read_imagenet_npz(tmp_path / "odd.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="not a readable npz"):
        read_imagenet_npz(tmp_path / "broken.npz")
    with pytest.raises(FileNotFoundError):
        read_imagenet_npz(tmp_path / "missing.npz")


def test_image_folder(tmp_path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "b.png")  # grayscale -> RGB
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("ignored")
    images = image_folder(tmp_path)
    assert [im.shape for im in images] == [(10, 12, 3)] * 3
    assert np.array_equal(images[0], rgb) and np.array_equal(images[1][..., 2], rgb[..., 0])


def test_image_folder_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no images"):
        image_folder(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(tmp_path / "bad.png")
    Image.fromarray(np.zeros((4, 4), np.uint16) + 1000).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match="more than 8 bits"):
        read_image(tmp_path / "deep.png")


def test_tiles_and_crops() -> None:
    image = np.arange(70 * 130 * 3, dtype=np.int64).astype(np.uint8).reshape(70, 130, 3)
    t = tiles(image, 32)
    assert t.shape == (2 * 4, 32, 32, 3) and np.array_equal(t[5], image[32:64, 32:64])
    crops = random_crops([image], 16, 5, np.random.default_rng(0))
    assert crops.shape == (5, 16, 16, 3)
    with pytest.raises(ValueError, match="smaller than one"):
        tiles(image[:10], 32)
    with pytest.raises(ValueError, match="uint8"):
        tiles(image.astype(np.float32), 8)


def test_natural_patches_split_by_source() -> None:
    from dgmlab.data.natural import DEMO_SOURCES, HELDOUT_SOURCES, TRAIN_SOURCES, natural_images

    assert not set(TRAIN_SOURCES) & set(HELDOUT_SOURCES) and not set(TRAIN_SOURCES) & set(DEMO_SOURCES)
    (hopper,) = natural_images("demo")
    assert hopper.shape == (600, 512, 3)
    heldout = load_images("natural", "heldout")
    assert heldout.shape == (2 * 6 * 10, 64, 64, 3)  # two 427x640 photographs
    train = load_images("natural", "train")
    assert len(train) == len(TRAIN_SOURCES) and all(im.dtype == np.uint8 for im in train)
    assert all(im.ndim == 3 and im.shape[2] == 3 for im in train)  # greyscale photographs come as RGB


def test_unknown_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown dataset spec"):
        load_images("mnist")
    with pytest.raises(ValueError, match="unknown dataset spec"):
        load_images("folder:")
    with pytest.raises(ValueError, match="split"):
        load_images("natural", "test")
