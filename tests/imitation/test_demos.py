"""Demonstration files: schema validation, subsets, subsampling; rollouts: termination vs truncation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dgmlab.imitation.demos import SCHEMA, Demonstrations
from dgmlab.imitation.policies import make_policy
from dgmlab.imitation.rollout import collect, env_spaces, make_vec_env


def _write(path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def _valid_arrays(demos: Demonstrations) -> dict:
    return {"observations": demos.observations, "actions": demos.actions, "rewards": demos.rewards,
            "episode_starts": demos.episode_starts, "episode_returns": demos.episode_returns,
            "meta": np.array(json.dumps({"schema": SCHEMA, "env_id": "CartPole-v1"}))}


def test_round_trip(cartpole_demos: Demonstrations, demos_file: str) -> None:
    loaded = Demonstrations.load(demos_file)
    np.testing.assert_array_equal(loaded.observations, cartpole_demos.observations)
    np.testing.assert_array_equal(loaded.actions, cartpole_demos.actions)
    assert loaded.env_id == "CartPole-v1" and loaded.num_trajectories == 4
    np.testing.assert_array_equal(loaded.episode_returns, [500.0] * 4)


@pytest.mark.parametrize(("change", "message"), [
    ({"drop": "episode_starts"}, "lacks keys \\['episode_starts'\\]"),
    ({"episode_starts": "ints"}, "episode_starts: expected a bool array"),
    ({"actions": "short"}, "actions: expected 2000 rows"),
    ({"observations": "flat"}, "observations: expected a non-empty \\[N, obs_dim\\]"),
    ({"episode_returns": "short"}, "episode_returns: expected one per trajectory"),
    ({"meta": "schema"}, "meta.schema"),
])
def test_wrong_schema_is_rejected(cartpole_demos: Demonstrations, tmp_path, change: dict, message: str) -> None:
    arrays = _valid_arrays(cartpole_demos)
    key, how = next(iter(change.items()))
    if key == "drop":
        del arrays[how]
    elif how == "ints":
        arrays[key] = arrays[key].astype(np.int64)
    elif how == "short":
        arrays[key] = arrays[key][:-1]
    elif how == "flat":
        arrays[key] = arrays[key].reshape(-1)
    else:
        arrays["meta"] = np.array(json.dumps({"schema": "other/9"}))
    with pytest.raises(ValueError, match=message):
        Demonstrations.load(_write(tmp_path / "bad.npz", **arrays))


def test_missing_or_garbage_file_is_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="no demonstrations file"):
        Demonstrations.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        Demonstrations.load(tmp_path / "junk.npz")


def test_take_and_subsample(cartpole_demos: Demonstrations) -> None:
    two = cartpole_demos.take(2)
    assert two.num_trajectories == 2 and len(two.observations) == 1000
    random_two = cartpole_demos.take(2, seed=3)
    assert random_two.num_trajectories == 2
    sub = cartpole_demos.subsample(20, seed=0)
    assert sub.num_trajectories == 4 and len(sub.observations) == 4 * 25
    assert sub.mean_episode_length() == pytest.approx(500.0)
    ids = cartpole_demos.trajectory_ids()
    kept = [np.flatnonzero((cartpole_demos.observations == o).all(1))[0] for o in sub.observations[:25]]
    assert np.all(np.diff(kept) == 20) and set(ids[kept]) == {0}
    with pytest.raises(ValueError, match="num_trajectories"):
        cartpole_demos.take(5)


def test_env_spaces_rejects_unsupported_environments() -> None:
    with pytest.raises(ValueError, match="observation_space"):
        env_spaces("FrozenLake-v1")
    with pytest.raises(ValueError, match="env_id"):
        env_spaces("NoSuchEnv-v0")


def test_rollout_separates_termination_from_truncation() -> None:
    obs_space, act_space = env_spaces("CartPole-v1")
    envs = make_vec_env("CartPole-v1", 2, asynchronous=False)
    batch = collect(make_policy(obs_space, act_space), envs, 400, seeds=[0, 1])
    envs.close()
    assert batch.obs.shape == (200, 2, 4) and batch.num_steps == 400
    t, i = map(int, np.argwhere(batch.terminated)[0])
    # the stored next observation is the terminal one (pole past 12 degrees or cart out), not the reset one
    assert abs(batch.next_obs[t, i, 2]) > 0.2 or abs(batch.next_obs[t, i, 0]) > 2.4
    assert np.all(batch.terminated[-1] | batch.truncated[-1])  # running episodes are cut at the batch end
    assert len(batch.episode_returns) == int(batch.terminated.sum() + batch.truncated[:-1].sum())
    assert np.sum(batch.episode_lengths) <= 400
