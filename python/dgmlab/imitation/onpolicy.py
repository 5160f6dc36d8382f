"""The TRPO learner shared by expert training (true reward), GAIL (discriminator reward) and FEM/GTAL (linear cost).

One iteration reads top to bottom in :meth:`TRPO._iterate`: rollout -> rewards (a hook: the environment's reward
here; GAIL first takes its discriminator step inside it) -> GAE -> TRPO policy step -> value fit -> update the
observation normaliser. The API is shaped like Stable-Baselines3's::

    expert = TRPO("CartPole-v1", TRPOConfig(steps_per_iter=5000)).learn(100_000)
    action = expert.predict(obs)
    expert.save("expert.zip"); expert = TRPO.load("expert.zip")
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm
from typing_extensions import Self

from dgmlab.imitation.gae import gae
from dgmlab.imitation.metrics import MetricsCSV
from dgmlab.imitation.policies import DEFAULT_HIDDEN, Policy, ValueNet, make_policy, predict_actions
from dgmlab.imitation.rollout import Batch, collect, env_spaces, iteration_seeds, make_vec_env
from dgmlab.imitation.serialization import config_from_dict, load_zip, save_zip
from dgmlab.imitation.trpo import TRPOStepConfig, trpo_step

T = TypeVar("T", bound="TRPO")


@dataclass
class TRPOConfig:
    """On-policy training loop (defaults: the thesis' settings; 500 iterations of 50,000 steps is its budget)."""

    steps_per_iter: int = 50_000
    """State-action pairs sampled per iteration (summed over environments)."""
    num_envs: int = 0
    """Parallel environments; 0 means one per CPU core, at most 8."""
    async_envs: bool = True
    """Run environments in subprocesses (``AsyncVectorEnv``) when there is more than one."""
    gamma: float = 0.995
    """Discount factor."""
    lam: float = 0.97
    """GAE lambda."""
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    """Hidden layer widths of the policy, value and discriminator networks (tanh)."""
    init_log_std: float = 0.0
    """Initial log standard deviation of Gaussian policies."""
    step: TRPOStepConfig = field(default_factory=TRPOStepConfig)
    """TRPO step: max KL, damping, CG iterations, line search, causal entropy lambda."""
    vf_lr: float = 1e-3
    """Adam learning rate of the value network."""
    vf_epochs: int = 5
    """Passes over the batch when fitting the value network each iteration."""
    vf_minibatch: int = 256
    """Minibatch size of the value fit."""
    seed: int = 0
    """Seeds torch (network init, action sampling) and the environments' resets."""

    def resolved_num_envs(self) -> int:
        return self.num_envs if self.num_envs > 0 else max(1, min(8, os.cpu_count() or 1))


class TRPO:
    """TRPO on the environment's true reward (how the thesis trained its experts).

    :param env_id: gymnasium id of an environment with 1-D ``Box`` observations and ``Box``/``Discrete`` actions
    :param config: a :class:`TRPOConfig` (default: the thesis' settings)
    """

    config_cls: type = TRPOConfig

    def __init__(self, env_id: str, config: Any = None) -> None:
        self.config = config if config is not None else self.config_cls()
        self.observation_space, self.action_space = env_spaces(env_id)
        self.env_id = env_id
        cfg = self.trpo_config
        torch.manual_seed(cfg.seed)
        self.policy: Policy = make_policy(self.observation_space, self.action_space, cfg.hidden, cfg.init_log_std)
        self.value = ValueNet(self.observation_space.shape[0], cfg.hidden)
        self.vf_optim = torch.optim.Adam(self.value.parameters(), lr=cfg.vf_lr)
        self.iteration = 0
        self.num_timesteps = 0
        self._envs: gym.vector.VectorEnv | None = None

    @property
    def trpo_config(self) -> TRPOConfig:
        """The on-policy loop settings (the whole config here; a field of it in subclasses)."""
        return self.config

    # ----------------------------------------------------------------------------------------------- training
    def learn(self, total_steps: int, checkpoint: str | Path | None = None, checkpoint_every: int = 10,
              metrics: str | Path | None = None, progress: bool = True) -> Self:
        """Train until ``num_timesteps >= total_steps`` (so a resumed run stops where the original would).

        :param total_steps: environment steps to reach, counting those of earlier (or resumed) ``learn`` calls
        :param checkpoint: zip file rewritten every ``checkpoint_every`` iterations and at the end
        :param checkpoint_every: iterations between checkpoints
        :param metrics: CSV file that gets one row of namespaced metrics per iteration (appended on resume)
        :param progress: show a tqdm progress bar
        :return: self
        """
        log = MetricsCSV(metrics) if metrics is not None else None
        bar = tqdm(total=total_steps, initial=min(self.num_timesteps, total_steps), disable=not progress,
                   desc=f"{type(self).__name__} {self.env_id}", unit="step", dynamic_ncols=True)
        try:
            while self.num_timesteps < total_steps:
                row = self._iterate()
                bar.update(min(row["time/total_steps"], total_steps) - bar.n)
                bar.set_postfix(ret=f"{row['rollout/ep_return_mean']:.1f}")
                if log is not None:
                    log.write(row)
                if checkpoint is not None and self.iteration % checkpoint_every == 0:
                    self.save(checkpoint)
        finally:
            bar.close()
            self.close()
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def _iterate(self) -> dict[str, float]:
        cfg = self.trpo_config
        start = time.perf_counter()
        if self._envs is None:
            self._envs = make_vec_env(self.env_id, cfg.resolved_num_envs(), cfg.async_envs)
        seeds = iteration_seeds(cfg.seed, self.iteration, self._envs.num_envs)
        batch = collect(self.policy, self._envs, cfg.steps_per_iter, seeds)
        rewards, stats = self._rewards(batch)
        obs = torch.as_tensor(batch.flat("obs"), dtype=torch.float32)
        advantages, targets = self._advantages(batch, rewards)
        t0 = time.perf_counter()
        stats.update(trpo_step(self.policy, obs, torch.as_tensor(batch.flat("actions")),
                               torch.as_tensor(advantages, dtype=torch.float32), cfg.step))
        t1 = time.perf_counter()
        stats["losses/value"] = self._fit_value(obs, torch.as_tensor(targets, dtype=torch.float32))
        t2 = time.perf_counter()
        self.policy.obs_norm.update(batch.flat("obs"))
        self.iteration += 1
        self.num_timesteps += batch.num_steps
        elapsed = time.perf_counter() - start
        return {"time/iteration": self.iteration, "time/total_steps": self.num_timesteps,
                "rollout/ep_return_mean": float(np.mean(batch.episode_returns)) if batch.episode_returns else np.nan,
                "rollout/ep_len_mean": float(np.mean(batch.episode_lengths)) if batch.episode_lengths else np.nan,
                "rollout/episodes": len(batch.episode_returns), "rollout/reward_mean": float(rewards.mean()),
                **stats, "time/rollout_s": batch.seconds, "time/trpo_s": t1 - t0, "time/value_s": t2 - t1,
                "time/iteration_s": elapsed, "charts/SPS": batch.num_steps / elapsed}

    def _rewards(self, batch: Batch) -> tuple[np.ndarray, dict[str, float]]:
        """Rewards ``[T, N]`` that the policy maximises, and statistics to log. Here: the true reward."""
        return batch.rewards.astype(np.float64), {}

    def _advantages(self, batch: Batch, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised GAE advantages and value targets, both flattened to ``[T * N]``."""
        cfg = self.trpo_config
        with torch.no_grad():
            norm = self.policy.obs_norm
            values = self.value(norm(torch.as_tensor(batch.obs, dtype=torch.float32))).double().numpy()
            next_values = self.value(norm(torch.as_tensor(batch.next_obs, dtype=torch.float32))).double().numpy()
        adv, targets = gae(rewards, values, next_values, batch.terminated, batch.truncated, cfg.gamma, cfg.lam)
        adv = adv.reshape(-1)
        return (adv - adv.mean()) / (adv.std() + 1e-8), targets.reshape(-1)

    def _fit_value(self, obs: torch.Tensor, targets: torch.Tensor) -> float:
        """A few epochs of minibatch Adam on the squared error to the GAE value targets."""
        cfg = self.trpo_config
        with torch.no_grad():
            inputs = self.policy.obs_norm(obs)
        loss = torch.tensor(0.0)
        for _ in range(cfg.vf_epochs):
            for idx in torch.randperm(len(targets)).split(cfg.vf_minibatch):
                loss = (self.value(inputs[idx]) - targets[idx]).square().mean()
                self.vf_optim.zero_grad()
                loss.backward()
                self.vf_optim.step()
        return float(loss.detach())

    def close(self) -> None:
        """Close the vector environments (they are reopened by the next ``learn``)."""
        if self._envs is not None:
            self._envs.close()
            self._envs = None

    # ----------------------------------------------------------------------------------------------- acting
    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Action(s) for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``, within the action bounds."""
        return predict_actions(self.policy, obs, self.observation_space, self.action_space, deterministic)

    # ----------------------------------------------------------------------------------------------- saving
    def _state(self) -> dict[str, dict]:
        """Everything a resumed run needs, as state_dicts (subclasses add their components)."""
        return {"policy": self.policy.state_dict(), "value": self.value.state_dict(),
                "vf_optim": self.vf_optim.state_dict(), "rng": {"torch": torch.get_rng_state()}}

    def _load_state(self, state: dict[str, dict]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.vf_optim.load_state_dict(state["vf_optim"])
        torch.set_rng_state(state["rng"]["torch"])

    def save(self, path: str | Path) -> Path:
        """Write config, counters and every state_dict (policy with its normaliser, value, optimisers, RNG)."""
        meta = {"env_id": self.env_id, "iteration": self.iteration, "num_timesteps": self.num_timesteps}
        return save_zip(path, type(self).__name__, self.config, self._state(), meta)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Self:
        """Rebuild a saved model (``kwargs`` go to the constructor, e.g. ``demos=`` for GAIL); restores RNG."""
        meta, config, state = load_zip(path, cls.__name__)
        model = cls(meta["env_id"], config=config_from_dict(cls.config_cls, config), **kwargs)
        model._load_state(state)
        model.iteration, model.num_timesteps = int(meta["iteration"]), int(meta["num_timesteps"])
        return model
