"""Chunked on-disk episodes: one uncompressed ``.npz`` per episode, streamed without loading the whole data set.

Format (``<dir>/ep_<index:06d>.npz``, written to a temporary name then renamed, so a killed collector never leaves a
half-written episode):

- ``obs``    uint8   (T, 64, 64, 3)  observation at which ``action[t]`` was taken
- ``action`` float32 (T, 3)          steer, gas, brake
- ``reward`` float32 (T,)            reward for ``action[t]``
- ``done``   bool    (T,)            episode ended after ``action[t]``
- ``seed``   int64   ()              track seed

Latent statistics for the memory use the same layout with ``mu``/``logvar`` float32 (T, z) instead of ``obs``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

EPISODE_KEYS = ("obs", "action", "reward", "done", "seed")
LATENT_KEYS = ("mu", "logvar", "action", "reward", "done", "seed")


def episode_path(root: str | Path, index: int) -> Path:
    return Path(root) / f"ep_{index:06d}.npz"


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def list_episodes(root: str | Path) -> list[Path]:
    """Sorted episode files under ``root``; a clear error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"episodes: directory {root} does not exist; run `dgmlab wm collect` first")
    files = sorted(root.glob("ep_*.npz"))
    if not files:
        raise FileNotFoundError(f"episodes: no ep_*.npz files in {root}; run `dgmlab wm collect` first")
    return files


def load_episode(path: str | Path, keys: tuple[str, ...] = EPISODE_KEYS) -> dict[str, np.ndarray]:
    """Load and validate one episode (or latent) file; raises ``ValueError`` naming the file and the bad field."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            out = {k: data[k] for k in keys}
    except KeyError as err:
        raise ValueError(f"{path}: missing array {err}; expected {keys}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: unreadable episode file ({err}); delete it and re-collect") from None
    n = len(out["action"])
    if out["action"].shape != (n, 3) or len(out["reward"]) != n or len(out["done"]) != n or n == 0:
        raise ValueError(f"{path}: inconsistent lengths/shapes {({k: v.shape for k, v in out.items()})}")
    if "obs" in out and (out["obs"].dtype != np.uint8 or out["obs"].shape[1:] != (64, 64, 3) or len(out["obs"]) != n):
        raise ValueError(f"{path}: obs must be uint8 ({n}, 64, 64, 3), got {out['obs'].dtype} {out['obs'].shape}")
    if "mu" in out and (out["mu"].shape != out["logvar"].shape or len(out["mu"]) != n):
        raise ValueError(f"{path}: mu/logvar must both be ({n}, z), got {out['mu'].shape} {out['logvar'].shape}")
    return out


def stream_frames(files: list[Path], batch_size: int, buffer_episodes: int,
                  rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield shuffled uint8 batches (B, 64, 64, 3), holding at most ``buffer_episodes`` episodes in memory.

    Episodes are visited in a random order; frames are shuffled within each buffer. The last partial batch of the
    pass is dropped only if it is smaller than half a batch.
    """
    if batch_size < 1 or buffer_episodes < 1:
        raise ValueError(f"batch_size and buffer_episodes must be >= 1, got {batch_size}, {buffer_episodes}")
    order = rng.permutation(len(files))
    carry = np.zeros((0, 64, 64, 3), np.uint8)
    for start in range(0, len(order), buffer_episodes):
        chunk = [load_episode(files[i], ("obs", "action", "reward", "done"))["obs"]
                 for i in order[start:start + buffer_episodes]]
        frames = np.concatenate([carry, *chunk])
        frames = frames[rng.permutation(len(frames))]
        whole = len(frames) // batch_size * batch_size
        for b in range(0, whole, batch_size):
            yield frames[b:b + batch_size]
        carry = frames[whole:]
    if len(carry) >= max(1, batch_size // 2):
        yield carry
