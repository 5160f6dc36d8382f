"""Chunked episode storage: round trip, streaming, clear errors for missing and corrupt data."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.world_models.storage import (
    episode_path,
    list_episodes,
    load_episode,
    save_npz_atomic,
    stream_frames,
)


def _episode(n: int, value: int) -> dict:
    return {"obs": np.full((n, 64, 64, 3), value, np.uint8), "action": np.zeros((n, 3), np.float32),
            "reward": np.ones(n, np.float32), "done": np.arange(n) == n - 1, "seed": np.int64(value)}


def test_round_trip_and_stream_every_frame_once(tmp_path):
    lengths = [7, 5, 9, 3]
    for i, n in enumerate(lengths):
        save_npz_atomic(episode_path(tmp_path, i), **_episode(n, i + 1))
    files = list_episodes(tmp_path)
    assert [f.name for f in files] == [f"ep_{i:06d}.npz" for i in range(4)]
    ep = load_episode(files[2])
    assert ep["obs"].shape == (9, 64, 64, 3) and int(ep["seed"]) == 3 and ep["done"][-1]
    batches = list(stream_frames(files, batch_size=4, buffer_episodes=2, rng=np.random.default_rng(0)))
    assert all(len(b) == 4 for b in batches)
    seen = np.concatenate(batches)[:, 0, 0, 0]
    counts = np.bincount(seen, minlength=5)[1:]
    assert list(counts) == lengths  # every frame exactly once


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="wm collect"):
        list_episodes(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no ep_"):
        list_episodes(tmp_path)


def test_corrupt_and_inconsistent_files(tmp_path):
    path = episode_path(tmp_path, 0)
    save_npz_atomic(path, **_episode(4, 1))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="unreadable episode file"):
        load_episode(path)
    bad = _episode(4, 1)
    bad["obs"] = bad["obs"][:, :32]
    save_npz_atomic(path, **bad)
    with pytest.raises(ValueError, match="obs must be uint8"):
        load_episode(path)
    del bad["reward"]
    save_npz_atomic(path, **bad)
    with pytest.raises(ValueError, match="missing array"):
        load_episode(path)
