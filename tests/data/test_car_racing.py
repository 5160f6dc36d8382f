"""Car-racing frames: rendering, processing and the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from dgmlab.data.car_racing import car_racing_frames, process_frame, render_frames


def test_render_frames_are_processed_64x64() -> None:
    frames = render_frames(episodes=1, steps=3, seed=0, skip=2)
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8


def test_cache_is_written_and_reused(tmp_path) -> None:
    first = car_racing_frames("heldout", cache_dir=str(tmp_path), episodes=1, steps=2)
    files = list((tmp_path / "car_racing").glob("*.npy"))
    assert len(files) == 1 and first.shape == (2, 64, 64, 3)
    np.save(files[0], first[:, :, :, :1].copy())
    with pytest.raises(ValueError, match="malformed frame cache"):
        car_racing_frames("heldout", cache_dir=str(tmp_path), episodes=1, steps=2)
    with pytest.raises(ValueError, match="split"):
        car_racing_frames("test", cache_dir=str(tmp_path))


def test_process_frame_rejects_bad_frames() -> None:
    with pytest.raises(ValueError, match="uint8"):
        process_frame(np.zeros((96, 96), np.uint8))
    assert process_frame(np.zeros((96, 96, 3), np.uint8)).shape == (64, 64, 3)
