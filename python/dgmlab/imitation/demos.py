"""Expert demonstrations: sampling from a policy, the ``.npz`` file schema, subsets and subsampling.

A dataset is a flat sequence of state-action pairs from whole trajectories, stored as a numpy ``.npz`` file with:

=================  =====================  ================================================================
key                dtype, shape           meaning
=================  =====================  ================================================================
``observations``   float32 ``[N, obs]``   s_t
``actions``        float32 ``[N, act]``   a_t as executed (continuous), or int64 ``[N]`` (discrete)
``rewards``        float32 ``[N]``        true reward r_t (kept for reporting; imitation never reads it)
``episode_starts`` bool ``[N]``           True at the first pair of each trajectory (``[0]`` must be True)
``episode_returns`` float64 ``[E]``       true return of each full trajectory, before any subsampling
``meta``           str (JSON)             ``{"schema": "dgmlab.demos/1", "env_id": ..., "subsample": ...}``
``final_observations`` float32 ``[E, obs]`` optional: the observation after each trajectory's last step
``terminations``   bool ``[E]``           optional: True where a trajectory ended by termination, False if truncated
=================  =====================  ================================================================

The two optional keys (written by :func:`sample_demonstrations`) are what a Minari-style export needs
(:mod:`dgmlab.imitation.minari_format`); files without them stay valid.

The thesis (Section 2.6) samples trajectories from the expert and, on the MuJoCo tasks, keeps every 20th pair of each
trajectory from a random offset (``subsample(20)``), giving datasets of about 50 pairs per trajectory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

SCHEMA = "dgmlab.demos/1"
_KEYS = ("observations", "actions", "rewards", "episode_starts", "episode_returns", "meta")
_OPTIONAL_KEYS = ("final_observations", "terminations")


@dataclass
class Demonstrations:
    """Expert state-action pairs grouped into trajectories (see the module docstring for the schema)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_starts: np.ndarray
    episode_returns: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    final_observations: np.ndarray | None = None
    terminations: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.observations)
        if self.observations.ndim != 2 or n == 0:
            raise ValueError(f"observations: expected a non-empty [N, obs_dim] array, got {self.observations.shape}")
        for name in ("actions", "rewards", "episode_starts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: expected {n} rows like observations, got {len(getattr(self, name))}")
        if self.actions.ndim not in (1, 2):
            raise ValueError(f"actions: expected [N] (discrete) or [N, act_dim], got {self.actions.shape}")
        if self.episode_starts.dtype != np.bool_ or not self.episode_starts[0]:
            raise ValueError("episode_starts: expected a bool array whose first entry is True")
        if len(self.episode_returns) != int(self.episode_starts.sum()):
            raise ValueError(f"episode_returns: expected one per trajectory ({int(self.episode_starts.sum())}), "
                             f"got {len(self.episode_returns)}")
        self._check_episode_ends()

    def _check_episode_ends(self) -> None:
        """The optional per-trajectory arrays: both or neither, one row per trajectory."""
        if (self.final_observations is None) != (self.terminations is None):
            raise ValueError("final_observations, terminations: give both or neither")
        if self.final_observations is None or self.terminations is None:
            return
        want = (len(self.episode_returns), self.observations.shape[1])
        if self.final_observations.shape != want:
            raise ValueError(f"final_observations: expected shape {want}, got {self.final_observations.shape}")
        if self.terminations.dtype != np.bool_ or self.terminations.shape != want[:1]:
            raise ValueError(f"terminations: expected a bool array of shape {want[:1]}, got "
                             f"{self.terminations.dtype} {self.terminations.shape}")

    @property
    def num_trajectories(self) -> int:
        return int(self.episode_starts.sum())

    @property
    def env_id(self) -> str | None:
        return self.meta.get("env_id")

    def mean_episode_length(self) -> float:
        """Mean length of the original trajectories (pairs per trajectory times the subsampling factor)."""
        return len(self.observations) * int(self.meta.get("subsample", 1)) / self.num_trajectories

    def trajectory_slices(self) -> list[slice]:
        """Row ranges of the trajectories, in order."""
        starts = np.flatnonzero(self.episode_starts).tolist() + [len(self.observations)]
        return [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]

    def select(self, indices: list[int] | np.ndarray) -> Demonstrations:
        """The trajectories with the given indices."""
        slices = self.trajectory_slices()
        if len(indices) == 0 or max(indices) >= len(slices) or min(indices) < 0:
            raise ValueError(f"indices: expected non-empty indices in [0, {len(slices)}), got {list(indices)}")
        rows = np.concatenate([np.arange(len(self.observations))[slices[i]] for i in indices])
        return self._rows(rows, np.asarray(indices))

    def take(self, num_trajectories: int, seed: int | None = None) -> Demonstrations:
        """``num_trajectories`` trajectories: the first ones, or a random subset when ``seed`` is given."""
        if not 1 <= num_trajectories <= self.num_trajectories:
            raise ValueError(f"num_trajectories: expected 1..{self.num_trajectories}, got {num_trajectories}")
        if seed is None:
            return self.select(list(range(num_trajectories)))
        rng = np.random.default_rng(seed)
        return self.select(np.sort(rng.choice(self.num_trajectories, num_trajectories, replace=False)))

    def subsample(self, every: int, seed: int = 0) -> Demonstrations:
        """Keep every ``every``-th pair of each trajectory, starting at a random offset in ``[0, every)``."""
        if every < 1:
            raise ValueError(f"every: expected >= 1, got {every}")
        if every == 1:
            return self
        rng = np.random.default_rng(seed)
        idx = np.arange(len(self.observations))
        rows = np.concatenate([idx[s][rng.integers(min(every, s.stop - s.start))::every]
                               for s in self.trajectory_slices()])
        out = self._rows(rows, np.arange(self.num_trajectories))
        out.meta["subsample"] = every * int(self.meta.get("subsample", 1))
        return out

    def _rows(self, rows: np.ndarray, episodes: np.ndarray) -> Demonstrations:
        """The pairs ``rows``, which belong to the trajectories ``episodes`` (in order)."""
        starts = np.zeros(len(rows), dtype=bool)
        starts[0] = True
        starts[1:] = np.diff(self.trajectory_ids()[rows]) != 0
        ends = {k: None if getattr(self, k) is None else getattr(self, k)[episodes] for k in _OPTIONAL_KEYS}
        return Demonstrations(self.observations[rows], self.actions[rows], self.rewards[rows], starts,
                              self.episode_returns[episodes], dict(self.meta), **ends)

    def trajectory_ids(self) -> np.ndarray:
        """Index of the trajectory each pair belongs to."""
        return np.cumsum(self.episode_starts) - 1

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space, argument: str = "demos") -> None:
        """Raise ``ValueError`` unless the arrays fit the environment's spaces."""
        if self.observations.shape[1] != observation_space.shape[0]:
            raise ValueError(f"{argument}: observations have {self.observations.shape[1]} dims, the environment "
                             f"expects {observation_space.shape[0]}")
        if isinstance(action_space, gym.spaces.Discrete):
            if self.actions.ndim != 1 or not np.issubdtype(self.actions.dtype, np.integer):
                raise ValueError(f"{argument}: discrete actions must be an integer [N] array, "
                                 f"got {self.actions.dtype} {self.actions.shape}")
            if self.actions.min() < 0 or self.actions.max() >= action_space.n:
                raise ValueError(f"{argument}: actions outside [0, {action_space.n})")
        elif self.actions.ndim != 2 or self.actions.shape[1] != action_space.shape[0]:
            raise ValueError(f"{argument}: actions have shape {self.actions.shape}, the environment expects "
                             f"[N, {action_space.shape[0]}]")

    # ---------------------------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` file (see the schema in the module docstring)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"schema": SCHEMA, **self.meta})
        ends = {k: getattr(self, k) for k in _OPTIONAL_KEYS if getattr(self, k) is not None}
        with path.open("wb") as f:
            np.savez_compressed(f, observations=self.observations, actions=self.actions, rewards=self.rewards,
                                episode_starts=self.episode_starts, episode_returns=self.episode_returns,
                                meta=np.array(meta), **ends)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Demonstrations:
        """Read and validate a dataset file; wrong schemas raise ``ValueError`` naming the problem."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path: no demonstrations file at {str(path)!r}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"path: {str(path)!r} is not a readable .npz file ({err})") from err
        missing = [k for k in _KEYS if k not in arrays]
        if missing:
            raise ValueError(f"path: {str(path)!r} lacks keys {missing}; expected the {SCHEMA} schema {list(_KEYS)}")
        meta = json.loads(str(arrays.pop("meta")))
        if meta.pop("schema", None) != SCHEMA:
            raise ValueError(f"path: {str(path)!r} meta.schema is not {SCHEMA!r}")
        arrays["observations"] = arrays["observations"].astype(np.float32)
        return cls(**{k: arrays[k] for k in _KEYS if k != "meta"}, meta=meta,
                   **{k: arrays.get(k) for k in _OPTIONAL_KEYS})


def sample_demonstrations(act: Any, env_id: str, num_trajectories: int, seed: int = 0) -> Demonstrations:
    """Roll out ``act(obs_batch) -> actions`` for ``num_trajectories`` whole episodes (env seeds ``seed + i``)."""
    env = gym.make(env_id)
    obs_l, act_l, rew_l, start_l, returns, finals, terms = [], [], [], [], [], [], []
    for i in range(num_trajectories):
        obs, _ = env.reset(seed=seed + i)
        done, total, first, terminated = False, 0.0, True, False
        while not done:
            action = np.asarray(act(obs[None].astype(np.float32)))[0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            obs_l.append(obs)
            act_l.append(action)
            rew_l.append(reward)
            start_l.append(first)
            first, total, obs = False, total + float(reward), next_obs
            done = terminated or truncated
        returns.append(total)
        finals.append(obs)
        terms.append(bool(terminated))
    env.close()
    actions = np.asarray(act_l)
    actions = actions.astype(np.int64) if isinstance(env.action_space, gym.spaces.Discrete) else actions.astype(
        np.float32)
    return Demonstrations(np.asarray(obs_l, dtype=np.float32), actions, np.asarray(rew_l, dtype=np.float32),
                          np.asarray(start_l, dtype=bool), np.asarray(returns), {"env_id": env_id},
                          np.asarray(finals, dtype=np.float32), np.asarray(terms, dtype=bool))
