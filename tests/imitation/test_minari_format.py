"""Minari-style HDF5 datasets: round trip, the documented layout, and clear errors for what does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dgmlab.imitation.demos import Demonstrations, sample_demonstrations
from dgmlab.imitation.minari_format import (
    DATA_FILE,
    METADATA_FILE,
    load_minari,
    read_demonstrations,
    save_minari,
)

h5py = pytest.importorskip("h5py")


def _falls_over(obs: np.ndarray) -> np.ndarray:
    """Always push right: CartPole terminates within a few dozen steps."""
    return np.ones(len(obs), dtype=np.int64)


@pytest.fixture(scope="module")
def mixed_demos(cartpole_demos: Demonstrations) -> Demonstrations:
    """Two truncated (500-step) and two terminated trajectories."""
    short = sample_demonstrations(_falls_over, "CartPole-v1", 2, seed=10)
    parts = [cartpole_demos.take(2), short]
    return Demonstrations(*(np.concatenate([getattr(p, k) for p in parts]) for k in (
        "observations", "actions", "rewards", "episode_starts", "episode_returns")), {"env_id": "CartPole-v1"},
        np.concatenate([p.final_observations for p in parts]), np.concatenate([p.terminations for p in parts]))


def test_sampling_records_how_each_trajectory_ended(mixed_demos: Demonstrations) -> None:
    np.testing.assert_array_equal(mixed_demos.terminations, [False, False, True, True])
    pole_angle = mixed_demos.final_observations[2:, 2]
    assert np.all(np.abs(pole_angle) > 0.2)  # the terminal observation, past 12 degrees


def test_round_trip(mixed_demos: Demonstrations, tmp_path) -> None:
    root = save_minari(mixed_demos, tmp_path / "cartpole" / "expert-v0")
    loaded = load_minari(root)
    for key in ("observations", "actions", "rewards", "episode_starts", "final_observations", "terminations"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(mixed_demos, key), err_msg=key)
    np.testing.assert_allclose(loaded.episode_returns, mixed_demos.episode_returns)
    assert loaded.env_id == "CartPole-v1" and loaded.actions.dtype == np.int64
    np.testing.assert_array_equal(read_demonstrations(root).observations, mixed_demos.observations)


def test_layout_is_the_documented_one(mixed_demos: Demonstrations, tmp_path) -> None:
    root = save_minari(mixed_demos, tmp_path / "ds", dataset_id="cartpole/expert-v0")
    meta = json.loads((root / METADATA_FILE).read_text())
    assert meta["dataset_id"] == "cartpole/expert-v0" and meta["total_episodes"] == 4
    assert meta["total_steps"] == len(mixed_demos.observations) and json.loads(meta["env_spec"])["id"] == "CartPole-v1"
    with h5py.File(root / DATA_FILE, "r") as f:
        assert sorted(f) == [f"episode_{i}" for i in range(4)]
        ep = f["episode_3"]
        steps = int(ep.attrs["total_steps"])
        assert ep["observations"].shape == (steps + 1, 4) and ep["actions"].shape == (steps,)
        assert ep["terminations"][-1] and not ep["terminations"][:-1].any() and not ep["truncations"][()].any()
        assert f["episode_0"]["truncations"][-1] and not f["episode_0"]["terminations"][()].any()


def test_what_does_not_fit_is_refused(mixed_demos: Demonstrations, tmp_path) -> None:
    with pytest.raises(ValueError, match="subsampled trajectories"):
        save_minari(mixed_demos.subsample(5), tmp_path / "a")
    old = Demonstrations(mixed_demos.observations, mixed_demos.actions, mixed_demos.rewards,
                         mixed_demos.episode_starts, mixed_demos.episode_returns, {"env_id": "CartPole-v1"})
    with pytest.raises(ValueError, match="no final observations"):
        save_minari(old, tmp_path / "b")
    save_minari(mixed_demos, tmp_path / "c")
    with pytest.raises(ValueError, match="already holds a dataset"):
        save_minari(mixed_demos, tmp_path / "c")
    with pytest.raises(ValueError, match="give both or neither"):
        Demonstrations(*(getattr(old, k) for k in ("observations", "actions", "rewards", "episode_starts",
                                                   "episode_returns")), {}, mixed_demos.final_observations)


def test_malformed_datasets_are_rejected(mixed_demos: Demonstrations, tmp_path) -> None:
    with pytest.raises(ValueError, match="expected a Minari dataset folder"):
        load_minari(tmp_path / "missing")
    root = save_minari(mixed_demos, tmp_path / "bad")
    with h5py.File(root / DATA_FILE, "r+") as f:
        del f["episode_1"]["rewards"]
    with pytest.raises(ValueError, match="episode_1.*lacks datasets \\['rewards'\\]"):
        load_minari(root)
    with h5py.File(root / DATA_FILE, "r+") as f:
        del f["episode_1"]
        obs = f["episode_0"]["observations"][()]
        del f["episode_0"]["observations"]
        f["episode_0"]["observations"] = obs[:-1]  # no final observation
    with pytest.raises(ValueError, match="T \\+ 1 flat observations"):
        load_minari(root)
    (root / DATA_FILE).write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_minari(root)
