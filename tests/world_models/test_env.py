"""Frame processing, corrupt-frame checks and the fast renderer against Gymnasium's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dgmlab.data.car_racing import process_frame
from dgmlab.world_models.env import CarRacingEnv, CorruptFrameError, check_frame, make_car_racing


def reference_bilinear(frame: np.ndarray, size: int = 64, cut: int = 84) -> np.ndarray:
    """Independent numpy version of PIL's BILINEAR *downscale*: a triangle filter stretched by the scale factor."""
    src = frame[:cut].astype(np.float64)

    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        centre = (np.arange(n_out) + 0.5) * scale
        w = np.clip(1 - np.abs((np.arange(n_in)[None] + 0.5 - centre[:, None]) / scale), 0, None)
        return w / w.sum(1, keepdims=True)

    rows, cols = weights(src.shape[0], size), weights(src.shape[1], size)
    return np.einsum("ij,jkc,lk->ilc", rows, src, cols)


def test_process_frame_matches_reference_bilinear_not_nearest():
    rng = np.random.default_rng(0)
    frame = (rng.random((96, 96, 3)) * 255).astype(np.uint8)
    frame = np.asarray(Image.fromarray(frame).resize((96, 96), Image.BOX))  # smooth-ish but still textured
    out = process_frame(frame)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    ref = reference_bilinear(frame)
    assert np.abs(out - ref).max() <= 1.0  # PIL works in 8-bit fixed point
    nearest = np.asarray(Image.fromarray(frame[:84]).resize((64, 64), Image.NEAREST)).astype(float)
    assert np.abs(nearest - ref).mean() > 5 * np.abs(out - ref).mean()


def test_process_frame_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        process_frame(np.zeros((96, 96, 3), np.float32))
    with pytest.raises(ValueError, match="vertical_cut"):
        process_frame(np.zeros((50, 96, 3), np.uint8))


def test_check_frame_flags_corrupt_frames():
    env = make_car_racing(fast=True)
    frame, _ = env.reset(seed=1)
    env.close()
    assert check_frame(frame) is frame
    with pytest.raises(CorruptFrameError, match="blank"):
        check_frame(np.full((96, 96, 3), 7, np.uint8))
    with pytest.raises(CorruptFrameError, match="garbage"):
        check_frame(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    with pytest.raises(CorruptFrameError, match="expected uint8"):
        check_frame(frame[:84])


def test_fast_renderer_is_pixel_exact():
    envs = [make_car_racing(fast=False), make_car_racing(fast=True)]
    rng = np.random.default_rng(3)
    frames = [e.reset(seed=7)[0] for e in envs]
    for t in range(80):
        assert np.array_equal(frames[0], frames[1]), f"frames differ at step {t}"
        action = np.array([rng.uniform(-1, 1), 0.8, 0.0])
        frames = [e.step(action)[0] for e in envs]
    for e in envs:
        e.close()


def test_wrapper_observations_seeds_and_limits():
    env = CarRacingEnv(fast=True, max_steps=5)
    obs = env.reset(seed=11)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    steps, done = 0, False
    while not done:
        obs, _, done = env.step(np.array([0.0, 1.0, 0.0]))
        steps += 1
    assert steps == 5 and obs.shape == (64, 64, 3)
    again = env.reset(seed=11)
    assert np.array_equal(again, env.reset(seed=11))
    with pytest.raises(ValueError, match="3 finite floats"):
        env.step(np.array([np.nan, 0.0, 0.0]))
    env.close()
