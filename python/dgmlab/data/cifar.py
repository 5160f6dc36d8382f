"""CIFAR-10 python batches and downsampled-ImageNet (32x32 / 64x64) npz files at a path the user gives."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a CIFAR batch file cannot run code."""

    _ALLOWED: frozenset = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("builtins", "bytes"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> np.ndarray:
    """Read one CIFAR-10 python batch file (``data_batch_N`` / ``test_batch``) as uint8 ``(N, 32, 32, 3)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 batch not found: {path} (download cifar-10-python.tar.gz and extract it)"
        )
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python batch file ({exc})") from exc
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: expected a dict with b'data' of uint8 shape (N, 3072)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def read_cifar10(root: str | Path, split: str = "train") -> np.ndarray:
    """All images of a CIFAR-10 split from the extracted ``cifar-10-batches-py`` folder."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder not found: {root}")
    names = CIFAR_TRAIN if split == "train" else CIFAR_TEST
    return np.concatenate([read_cifar_batch(root / n) for n in names])


def read_imagenet_npz(path: str | Path, size: int | None = None) -> np.ndarray:
    """Read a downsampled-ImageNet npz file (key ``data``, rows of ``3*s*s`` uint8 in CHW order) as ``(N, s, s, 3)``.

    ``size`` (32 or 64) is inferred from the row length when not given.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet npz file not found: {path}")
    with open(path, "rb") as handle:
        try:
            with np.load(handle, allow_pickle=False) as f:
                files = f.files
                data = f["data"] if "data" in files else None
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not a readable npz file ({exc})") from exc
    if data is None:
        raise ValueError(f"{path}: no 'data' array (found {files})")
    if data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{path}: 'data' must be uint8 (N, 3*s*s), got {data.dtype} {data.shape}")
    side = size if size is not None else round((data.shape[1] / 3) ** 0.5)
    if 3 * side * side != data.shape[1]:
        raise ValueError(f"{path}: rows of length {data.shape[1]} do not hold {side}x{side} RGB images")
    return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1).copy()
