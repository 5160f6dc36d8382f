"""Behavioural cloning, the thesis' first baseline (Section 2.6).

The state-action pairs are split 70% / 30% into training and validation data; the policy (same network as GAIL's)
maximises the log-likelihood of the expert's actions with Adam on minibatches of 128, and training stops when the
validation loss has not improved for ``patience`` epochs, keeping the best parameters::

    bc = BC("CartPole-v1", demos).learn()
    bc.predict(obs); bc.save("bc.zip"); BC.load("bc.zip")
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dgmlab.imitation.demos import Demonstrations
from dgmlab.imitation.policies import DEFAULT_HIDDEN, make_policy, predict_actions
from dgmlab.imitation.rollout import env_spaces
from dgmlab.imitation.serialization import config_from_dict, load_zip, save_zip


@dataclass
class BCConfig:
    """Behavioural cloning (defaults from Section 2.6)."""

    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    """Hidden layer widths of the policy (tanh)."""
    lr: float = 1e-3
    """Adam learning rate."""
    batch_size: int = 128
    """Minibatch size."""
    val_fraction: float = 0.3
    """Fraction of state-action pairs held out for early stopping."""
    patience: int = 20
    """Stop after this many epochs without a lower validation loss."""
    max_epochs: int = 2000
    """Hard limit on training epochs."""
    seed: int = 0
    """Seeds the split, the initialisation and the minibatch order."""


class BC:
    """Behavioural cloning policy trained by maximum likelihood with early stopping.

    :param env_id: gymnasium environment id
    :param demos: expert demonstrations (``None`` for a model that is only loaded to act)
    :param config: a :class:`BCConfig`
    """

    def __init__(self, env_id: str, demos: Demonstrations | None = None, config: BCConfig | None = None) -> None:
        self.config = config or BCConfig()
        if not 0.0 < self.config.val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a value in (0, 1), got {self.config.val_fraction}")
        self.observation_space, self.action_space = env_spaces(env_id)
        self.env_id = env_id
        torch.manual_seed(self.config.seed)
        self.policy = make_policy(self.observation_space, self.action_space, self.config.hidden)
        self.demos = demos
        if demos is not None:
            demos.check_spaces(self.observation_space, self.action_space)
        self.history: list[tuple[int, float, float]] = []

    def _split(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n = len(self.demos.observations)
        if n < 2:
            raise ValueError(f"demos: behavioural cloning needs at least 2 state-action pairs, got {n}")
        perm = np.random.default_rng(self.config.seed).permutation(n)
        n_val = min(n - 1, max(1, int(round(self.config.val_fraction * n))))
        obs = torch.as_tensor(self.demos.observations, dtype=torch.float32)
        act = torch.as_tensor(self.demos.actions)
        val, train = torch.as_tensor(perm[:n_val]), torch.as_tensor(perm[n_val:])
        return obs[train], act[train], obs[val], act[val]

    def learn(self) -> BC:
        """Fit the policy; ``history`` records ``(epoch, train_loss, val_loss)``."""
        if self.demos is None:
            raise ValueError("demos: this BC model was built without demonstrations; pass demos= to train it")
        obs_tr, act_tr, obs_va, act_va = self._split()
        self.policy.obs_norm.update(obs_tr.numpy())
        optim = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        best, best_state, since_best = float("inf"), copy.deepcopy(self.policy.state_dict()), 0
        for epoch in range(self.config.max_epochs):
            train_loss = 0.0
            for idx in torch.randperm(len(obs_tr)).split(self.config.batch_size):
                loss = -self.policy.distribution(obs_tr[idx]).log_prob(act_tr[idx]).mean()
                optim.zero_grad()
                loss.backward()
                optim.step()
                train_loss += float(loss.detach()) * len(idx) / len(obs_tr)
            with torch.no_grad():
                val_loss = float(-self.policy.distribution(obs_va).log_prob(act_va).mean())
            self.history.append((epoch, train_loss, val_loss))
            if val_loss < best:
                best, best_state, since_best = val_loss, copy.deepcopy(self.policy.state_dict()), 0
            else:
                since_best += 1
                if since_best >= self.config.patience:
                    break
        self.policy.load_state_dict(best_state)
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Action(s) for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``, within the action bounds."""
        return predict_actions(self.policy, obs, self.observation_space, self.action_space, deterministic)

    def save(self, path: str | Path) -> Path:
        """Write the config and the policy's state_dict (with its observation normaliser)."""
        return save_zip(path, "BC", self.config, {"policy": self.policy.state_dict()}, {"env_id": self.env_id})

    @classmethod
    def load(cls, path: str | Path, demos: Demonstrations | None = None) -> BC:
        """Rebuild a saved BC policy."""
        meta, config, state = load_zip(path, "BC")
        model = cls(meta["env_id"], demos, config_from_dict(BCConfig, config))
        model.policy.load_state_dict(state["policy"])
        return model
