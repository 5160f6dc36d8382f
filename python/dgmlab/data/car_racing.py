"""Car-racing frame processing shared by Flow++ data and World Models.

The World Models write-up crops the 96x96 ``CarRacing`` observation to its top 84 rows (dropping the dashboard) and
resizes it to 64x64 with PIL's *bilinear* filter; its first agent used a blocky filter by mistake and drove worse.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FRAME_SHAPE = (96, 96, 3)
VERTICAL_CUT = 84
OBS_SIZE = 64


def process_frame(frame: np.ndarray, size: int = OBS_SIZE, vertical_cut: int = VERTICAL_CUT) -> np.ndarray:
    """Crop an RGB uint8 frame to its top ``vertical_cut`` rows and resize to ``size x size`` (PIL bilinear).

    Returns a uint8 array of shape ``(size, size, 3)``.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected a uint8 (H, W, 3) RGB array, got {frame.dtype} {frame.shape}")
    if frame.shape[0] < vertical_cut:
        raise ValueError(f"frame: height {frame.shape[0]} is below vertical_cut={vertical_cut}")
    image = Image.fromarray(np.ascontiguousarray(frame[:vertical_cut]))
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _policy_step(rng: np.random.Generator, steer: float) -> tuple[np.ndarray, float]:
    """A smooth random driving policy: the steering angle follows a clipped random walk, gas is mostly on."""
    steer = float(np.clip(0.9 * steer + rng.normal(0.0, 0.3), -1.0, 1.0))
    gas = float(rng.uniform(0.2, 1.0)) if rng.random() < 0.8 else 0.0
    brake = float(rng.uniform(0.0, 0.5)) if rng.random() < 0.05 else 0.0
    return np.array([steer, gas, brake], dtype=np.float32), steer


def render_frames(episodes: int, steps: int, seed: int, skip: int = 50) -> np.ndarray:
    """Roll out ``episodes`` episodes of Gymnasium ``CarRacing-v3`` with a smooth random policy.

    Episode ``i`` resets with seed ``seed + i``. The first ``skip`` frames of each episode (the zoom-in animation) are
    dropped and the next ``steps`` are kept, processed by :func:`process_frame`. Returns uint8 ``(N, 64, 64, 3)``.
    """
    try:
        import gymnasium as gym
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("car-racing frames need gymnasium[box2d]: pip install 'dgmlab[rl]'") from exc
    if episodes < 1 or steps < 1 or skip < 0:
        raise ValueError(f"need episodes >= 1, steps >= 1, skip >= 0; got {episodes}, {steps}, {skip}")
    env = gym.make("CarRacing-v3")
    frames = []
    try:
        for episode in range(episodes):
            rng = np.random.default_rng(seed + episode)
            obs, _ = env.reset(seed=seed + episode)
            steer, kept = 0.0, 0
            for t in range(skip + steps):
                if t >= skip:
                    frames.append(process_frame(obs))
                    kept += 1
                action, steer = _policy_step(rng, steer)
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return np.stack(frames)


def car_racing_frames(
    split: str = "train", cache_dir: str | None = None, episodes: int | None = None, steps: int = 250
) -> np.ndarray:
    """Cached car-racing frames: ``train`` (episodes seeded 0, 1, ...) or ``heldout`` (seeded 10000, 10001, ...).

    Frames are rendered once by :func:`render_frames` and cached as ``.npy`` under ``cache_dir`` (default
    ``$DGMLAB_CACHE`` or ``~/.cache/dgmlab``). Default episode counts: 16 for train, 4 for heldout.
    """
    import os
    from pathlib import Path

    seeds = {"train": 0, "heldout": 10_000}
    if split not in seeds:
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    episodes = episodes if episodes is not None else (16 if split == "train" else 4)
    root = Path(cache_dir or os.environ.get("DGMLAB_CACHE", Path.home() / ".cache" / "dgmlab")) / "car_racing"
    path = root / f"{split}_e{episodes}_s{steps}_seed{seeds[split]}.npy"
    if path.exists():
        frames = np.load(path, allow_pickle=False)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (OBS_SIZE, OBS_SIZE, 3):
            raise ValueError(
                f"{path}: malformed frame cache {frames.dtype} {frames.shape}; delete it to re-render"
            )
        return frames
    frames = render_frames(episodes, steps, seeds[split])
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, frames)
    tmp.replace(path)
    return frames
