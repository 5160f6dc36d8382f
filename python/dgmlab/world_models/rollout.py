"""Rollouts in the real environment: random policies for data collection and the full V + M + C agent.

Every function here is a top-level task ``fn(task, attempt)`` so an executor can ship it to a worker process; the
worker loads the VAE and MDN-RNN once (cached per model directory) and uses one torch thread. A retried rollout
(``attempt > 0``, after a timeout or crash) is re-seeded onto a different track, in case the track made it stall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dgmlab.world_models.controller import Controller
from dgmlab.world_models.env import CarRacingEnv

RESEED_STRIDE = 1_000_003  # retry k of track s runs track s + k * RESEED_STRIDE
_MODELS: dict[str, tuple] = {}


@dataclass(frozen=True)
class AgentSpec:
    """What a worker needs to build the agent: where the models are and how to run it."""

    model_dir: str
    """Run directory holding ``vae/vae.pt`` and ``rnn/rnn.pt`` (+ their JSON)."""
    use_hidden: bool = True
    """Controller input [z, h] (True) or z only."""
    max_steps: int = 1000
    """Frames per episode at most."""
    fast_env: bool = True
    """Use the fast renderer."""
    sample_z: bool = True
    """Feed z ~ N(mu, sigma) (as the paper) rather than mu."""
    patience: int = 0
    """Cut an episode after this many frames without a new tile (``CarRacingEnv(patience=)``; 0: never)."""


def track_seed(seed: int, attempt: int) -> int:
    return int(seed) + attempt * RESEED_STRIDE


def load_models(model_dir: str):
    """(vae, rnn) from ``model_dir``, cached for the life of the worker process."""
    if model_dir not in _MODELS:
        import torch

        from dgmlab.world_models.mdn_rnn import load_rnn
        from dgmlab.world_models.vae import load_vae

        torch.set_num_threads(1)
        root = Path(model_dir)
        _MODELS[model_dir] = (load_vae(root / "vae" / "vae.pt"), load_rnn(root / "rnn" / "rnn.pt"))
    return _MODELS[model_dir]


class Agent:
    """V + M + C: encodes each frame, picks an action from [z, h], then advances the LSTM on [z, a]."""

    def __init__(self, params: np.ndarray, spec: AgentSpec, seed: int) -> None:
        self.vae, self.rnn = load_models(spec.model_dir)
        self.controller = Controller(params, self.vae.z_dim, self.rnn.hidden, spec.use_hidden)
        self.sample_z = spec.sample_z
        self.rng = np.random.default_rng(seed)
        self.state = None
        self.h = np.zeros(self.rnn.hidden)

    def act(self, obs: np.ndarray) -> np.ndarray:
        import torch

        from dgmlab.world_models.vae import to_tensor

        with torch.no_grad():
            mu, logvar = self.vae.encode(to_tensor(obs[None]))
            z = mu[0].numpy()
            if self.sample_z:
                z = z + np.exp(0.5 * logvar[0].numpy()) * self.rng.standard_normal(z.shape).astype(np.float32)
            action = self.controller.act(z, self.h)
            x = torch.from_numpy(np.concatenate([z, action]).astype(np.float32)).view(1, 1, -1)
            out, self.state = self.rnn.lstm(x, self.state)
            self.h = out[0, 0].numpy().astype(np.float64)
        return action


def run_episode(env: CarRacingEnv, policy, seed: int, record: bool = False) -> tuple[float, dict | None]:
    """Play one episode with ``policy(obs) -> action``; returns (return, arrays in the storage layout or None)."""
    obs = env.reset(seed)
    total, done, log = 0.0, False, {"obs": [], "action": [], "reward": [], "done": []}
    while not done:
        action = policy(obs)
        next_obs, reward, done = env.step(action)
        total += reward
        if record:
            for key, value in zip(log, (obs, action, reward, done)):
                log[key].append(value)
        obs = next_obs
    if not record:
        return total, None
    arrays = {"obs": np.stack(log["obs"]).astype(np.uint8), "action": np.asarray(log["action"], np.float32),
              "reward": np.asarray(log["reward"], np.float32), "done": np.asarray(log["done"], bool),
              "seed": np.int64(seed)}
    return total, arrays


def random_policy(kind: str, rng: np.random.Generator):
    """``white``: i.i.d. uniform actions; ``brownian``: a clipped random walk (dt = 1/50, as other
    reimplementations)."""
    low, high = np.array([-1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])
    if kind == "white":
        return lambda obs: rng.uniform(low, high)
    if kind == "brownian":
        state = {"a": rng.uniform(low, high)}

        def brownian(obs: np.ndarray) -> np.ndarray:
            state["a"] = np.clip(state["a"] + rng.standard_normal(3) * np.sqrt(1 / 50) * 3.0, low, high)
            return state["a"].copy()

        return brownian
    raise ValueError(f"policy: unknown random policy {kind!r}; expected 'white' or 'brownian'")


@dataclass(frozen=True)
class RolloutTask:
    """One controller evaluation: parameters and track seed."""

    params: np.ndarray
    seed: int
    spec: AgentSpec


def agent_return(task: RolloutTask, attempt: int = 0) -> float:
    """Total reward of the agent with ``task.params`` on track ``task.seed`` (re-seeded on retries)."""
    seed = track_seed(task.seed, attempt)
    agent = Agent(task.params, task.spec, seed)
    env = CarRacingEnv(fast=task.spec.fast_env, max_steps=task.spec.max_steps, patience=task.spec.patience)
    try:
        return run_episode(env, agent.act, seed)[0]
    finally:
        env.close()


@dataclass(frozen=True)
class CollectTask:
    """One recorded episode for the data set."""

    index: int
    seed: int
    out_dir: str
    policy: str
    max_steps: int
    fast_env: bool = True
    params: np.ndarray | None = None
    spec: AgentSpec | None = None


def collect_episode(task: CollectTask, attempt: int = 0) -> tuple[int, int, float]:
    """Record one episode to ``out_dir/ep_<index>.npz``; returns (index, frames, return)."""
    from dgmlab.world_models.storage import episode_path, save_npz_atomic

    seed = track_seed(task.seed, attempt)
    if task.policy == "controller":
        if task.params is None or task.spec is None:
            raise ValueError("policy 'controller' needs controller params and an AgentSpec")
        policy = Agent(task.params, task.spec, seed).act
    else:
        policy = random_policy(task.policy, np.random.default_rng(seed))
    env = CarRacingEnv(fast=task.fast_env, max_steps=task.max_steps)
    try:
        total, arrays = run_episode(env, policy, seed, record=True)
    finally:
        env.close()
    save_npz_atomic(episode_path(task.out_dir, task.index), **arrays)
    return task.index, len(arrays["action"]), total
