"""Batched on-policy rollouts through ``gymnasium.vector`` environments.

Each iteration resets the environments with seeds derived from ``(seed, iteration)`` and collects a fixed number of
steps, so an iteration is a pure function of the parameters, the RNG state and the iteration number: a run resumed
from a checkpoint continues exactly as the uninterrupted run would. Environments auto-reset on the same step
(``AutoresetMode.SAME_STEP``); the observation that really followed the last step of an episode is recovered from
``info["final_obs"]`` so truncated episodes can be bootstrapped. Episodes still running at the end of the batch are
marked truncated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from dgmlab.imitation.policies import Policy, check_spaces


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` unless ``env_id`` is a registered gymnasium environment."""
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"env_id: {env_id!r} is not a registered gymnasium environment ({err})") from err


def env_spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    """``(observation_space, action_space)`` of ``env_id``, checked to be spaces the policies support."""
    check_env_id(env_id)
    probe = gym.make(env_id)
    spaces = probe.observation_space, probe.action_space
    probe.close()
    check_spaces(*spaces)
    return spaces


def make_vec_env(env_id: str, num_envs: int, asynchronous: bool) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id``, in subprocesses if ``asynchronous``, auto-resetting on the same step."""
    if num_envs < 1:
        raise ValueError(f"num_envs: expected >= 1, got {num_envs}")
    check_env_id(env_id)
    mode = "async" if asynchronous and num_envs > 1 else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode,
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})


def iteration_seeds(seed: int, iteration: int, num_envs: int) -> list[int]:
    """Environment reset seeds for one iteration, independent across iterations and environments."""
    return [int(s) for s in np.random.SeedSequence([seed, iteration]).generate_state(num_envs)]


@dataclass
class Batch:
    """One iteration's rollout, arrays shaped ``[T, N, ...]`` (time, environment)."""

    obs: np.ndarray
    actions: np.ndarray
    """Actions as sampled by the policy (used for log-probabilities)."""
    env_actions: np.ndarray
    """Actions as executed (clipped to the action bounds); these are what demonstrations record."""
    rewards: np.ndarray
    """True environment rewards."""
    next_obs: np.ndarray
    """Observation that followed each step: the final observation where an episode ended."""
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: list[float] = field(default_factory=list)
    """True returns of the episodes that finished inside the batch."""
    episode_lengths: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def num_steps(self) -> int:
        return int(self.rewards.size)

    def flat(self, name: str) -> np.ndarray:
        """Array ``name`` with the time and environment axes merged."""
        arr = getattr(self, name)
        return arr.reshape(-1, *arr.shape[2:])


def _to_env_actions(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high).astype(space.dtype)
    return actions.astype(np.int64)


def collect(policy: Policy, envs: gym.vector.VectorEnv, steps: int, seeds: list[int]) -> Batch:
    """Run ``policy`` (stochastically) for ``steps // num_envs`` steps in every environment."""
    n = envs.num_envs
    horizon = max(1, steps // n)
    start = time.perf_counter()
    obs, _ = envs.reset(seed=seeds)
    store: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "actions", "env_actions", "rewards", "next_obs",
                                                          "terminated", "truncated")}
    ep_ret, ep_len = np.zeros(n), np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    for _ in range(horizon):
        with torch.no_grad():
            actions = policy.distribution(torch.as_tensor(obs, dtype=torch.float32)).sample().numpy()
        env_actions = _to_env_actions(actions, envs.single_action_space)
        next_obs, rewards, terminated, truncated, info = envs.step(env_actions)
        real_next = np.array(next_obs, copy=True)
        if "_final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                real_next[i] = info["final_obs"][i]
        for key, value in zip(store, (obs, actions, env_actions, rewards, real_next, terminated, truncated)):
            store[key].append(np.asarray(value))
        ep_ret += rewards
        ep_len += 1
        for i in np.flatnonzero(np.logical_or(terminated, truncated)):
            returns.append(float(ep_ret[i]))
            lengths.append(int(ep_len[i]))
            ep_ret[i], ep_len[i] = 0.0, 0
        obs = next_obs
    arrays = {k: np.stack(v) for k, v in store.items()}
    arrays["truncated"][-1] |= ~arrays["terminated"][-1]
    return Batch(**arrays, episode_returns=returns, episode_lengths=lengths,
                 seconds=time.perf_counter() - start)
