"""Dreaming: roll the controller out inside the MDN-RNN instead of CarRacing.

The dream state is (z_t, LSTM state). Each step the controller acts on [z_t, h_t]; the LSTM consumes [z_t, a_t];
z_{t+1} is sampled from the mixture at temperature tau, and the reward and done heads give the reward and the end.
Episodes start from z of real first frames (``rnn/initial_z.npy`` in the run directory, written by the pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dgmlab.world_models.controller import Controller
from dgmlab.world_models.rollout import AgentSpec, load_models, track_seed


class DreamEnv:
    """A gym-like environment inside the MDN-RNN: ``reset(seed) -> (z, h)``, ``step(a) -> ((z, h), r, done)``."""

    def __init__(self, rnn, initial_z: np.ndarray, temperature: float = 1.0, max_steps: int = 1000) -> None:
        import torch

        if initial_z.ndim != 2 or initial_z.shape[1] != rnn.z_dim:
            raise ValueError(f"initial_z: expected (N, {rnn.z_dim}), got {initial_z.shape}")
        self.rnn, self.initial_z, self.temperature, self.max_steps = rnn, initial_z, temperature, max_steps
        self.gen = torch.Generator()

    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        self.gen.manual_seed(int(seed))
        self.t, self.state = 0, None
        self.z = self.initial_z[int(seed) % len(self.initial_z)].astype(np.float32)
        return self.z, np.zeros(self.rnn.hidden)

    def step(self, action: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float, bool]:
        import torch

        from dgmlab.world_models.mdn_rnn import sample_mdn

        with torch.no_grad():
            z = torch.from_numpy(self.z).view(1, 1, -1)
            a = torch.as_tensor(np.asarray(action, np.float32)).view(1, 1, -1)
            logit_pi, mu, log_sigma, r, d_logit, self.state = self.rnn(z, a, self.state)
            self.z = sample_mdn(logit_pi, mu, log_sigma, self.temperature, self.gen)[0, 0].numpy()
            ended = torch.bernoulli(torch.sigmoid(d_logit[0, 0]), generator=self.gen).item() > 0.5
        self.t += 1
        h = self.state[0][0, 0].numpy().astype(np.float64)
        return (self.z, h), float(r[0, 0]), bool(ended or self.t >= self.max_steps)


@dataclass(frozen=True)
class DreamTask:
    """One controller evaluation inside the dream."""

    params: np.ndarray
    seed: int
    spec: AgentSpec
    temperature: float = 1.0


def dream_return(task: DreamTask, attempt: int = 0) -> float:
    """Total predicted reward of the controller in a dream episode."""
    _, rnn = load_models(task.spec.model_dir)
    initial = np.load(Path(task.spec.model_dir) / "rnn" / "initial_z.npy", allow_pickle=False)
    env = DreamEnv(rnn, initial, task.temperature, task.spec.max_steps)
    ctrl = Controller(task.params, rnn.z_dim, rnn.hidden, task.spec.use_hidden)
    (z, h), total, done = env.reset(track_seed(task.seed, attempt)), 0.0, False
    while not done:
        (z, h), reward, done = env.step(ctrl.act(z, h))
        total += reward
    return total
