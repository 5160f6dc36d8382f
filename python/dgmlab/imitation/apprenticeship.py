"""Apprenticeship learning with TRPO (Ho et al., Section 2.4.3): FEM (C_linear) and GTAL (C_convex).

Both alternate between fitting the worst-case cost c* = argmax_{c in C} E_pi[c] - E_E[c] in closed form and a TRPO
step on c* (Eq. 2.21). With features f(s, a) and expected features mu_pi, mu_E under the (unnormalised, undiscounted)
occupancy measures, i.e. per-pair feature averages times the mean episode length:

* C_linear = {w^T f : ||w||_2 <= 1}             ->  c* = w^T f,  w = (mu_pi - mu_E) / ||mu_pi - mu_E||_2   (FEM)
* C_convex = {w^T f : w >= 0, sum_i w_i = 1}     ->  c* = f_i*,   i* = argmax_i (mu_pi - mu_E)_i            (GTAL)

Features are f(s, a) = [s', a', s'^2, a'^2, 1] (Eq. 2.19's basis) on inputs s', a' standardised with the expert
data's statistics, so every basis function has a comparable scale on every task (the max over features in C_convex
would otherwise be decided by units); discrete actions are one-hot. The constant feature makes episode length part
of the matched statistics, so a policy cannot lower its cost by ending episodes early. For C_convex the basis is
used with both signs, [f, -f], so the class contains the survival cost -1 and is symmetric like C_linear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from dgmlab.imitation.demos import Demonstrations
from dgmlab.imitation.discriminator import state_action_features
from dgmlab.imitation.onpolicy import TRPO, TRPOConfig
from dgmlab.imitation.rollout import Batch

COST_CLASSES = ("linear", "convex")


@dataclass
class ApprenticeshipConfig:
    """FEM / GTAL: the TRPO loop plus the cost class."""

    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    """Policy optimisation (rollout size, GAE, TRPO step incl. causal entropy lambda, value fit, seed)."""
    cost_class: str = "linear"
    """'linear' (C_linear: feature expectation matching, FEM) or 'convex' (C_convex: game-theoretic, GTAL)."""


class CostFeatures(nn.Module):
    """f(s, a) = [s', a', s'^2, a'^2, 1] on standardised [s, a] (statistics of the expert data, in buffers)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))

    @torch.no_grad()
    def fit(self, expert_inputs: torch.Tensor) -> None:
        self.in_mean.copy_(expert_inputs.mean(0))
        std = expert_inputs.std(0) if len(expert_inputs) > 1 else torch.ones_like(self.in_std)
        self.in_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        z = (inputs - self.in_mean) / self.in_std
        return torch.cat([z, z.square(), torch.ones(len(z), 1)], dim=1)


def worst_case_weights(mu_policy: torch.Tensor, mu_expert: torch.Tensor, cost_class: str) -> torch.Tensor:
    """Weights w of c* = w^T f maximising E_pi[c] - E_E[c] over the cost class (see the module docstring)."""
    diff = mu_policy - mu_expert
    if cost_class == "linear":
        return diff / diff.norm().clamp_min(1e-12)
    if cost_class == "convex":
        signed = torch.cat([diff, -diff])
        w = torch.nn.functional.one_hot(signed.argmax(), len(signed)).to(diff.dtype)
        return w[: len(diff)] - w[len(diff):]
    raise ValueError(f"cost_class: expected one of {COST_CLASSES}, got {cost_class!r}")


class Apprenticeship(TRPO):
    """FEM (``cost_class='linear'``) or GTAL (``cost_class='convex'``) with the TRPO policy step.

    :param env_id: gymnasium environment id
    :param demos: expert demonstrations (``None`` for a model that is only loaded to act)
    :param config: an :class:`ApprenticeshipConfig`
    """

    config_cls = ApprenticeshipConfig

    def __init__(self, env_id: str, demos: Demonstrations | None = None,
                 config: ApprenticeshipConfig | None = None) -> None:
        super().__init__(env_id, config)
        if self.config.cost_class not in COST_CLASSES:
            raise ValueError(f"cost_class: expected one of {COST_CLASSES}, got {self.config.cost_class!r}")
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self._n_discrete = int(self.action_space.n) if discrete else None
        self.features = CostFeatures(self.observation_space.shape[0] + (self._n_discrete or self.action_space.shape[0]))
        self.demos = demos
        self._mu_expert: torch.Tensor | None = None
        if demos is not None:
            demos.check_spaces(self.observation_space, self.action_space)
            expert_inputs = state_action_features(demos.observations, demos.actions, self._n_discrete)
            self.features.fit(expert_inputs)
            self._mu_expert = self._expert_expectation()

    def _expert_expectation(self) -> torch.Tensor:
        inputs = state_action_features(self.demos.observations, self.demos.actions, self._n_discrete)
        return self.features(inputs).mean(0) * self.demos.mean_episode_length()

    @property
    def trpo_config(self) -> TRPOConfig:
        return self.config.trpo

    def _rewards(self, batch: Batch) -> tuple[np.ndarray, dict[str, float]]:
        """Reward -c*(s, a) for the worst-case cost of the current batch (Eq. 2.21)."""
        if self._mu_expert is None:
            raise ValueError("demos: this model was built without demonstrations; pass demos= to train it")
        with torch.no_grad():
            feats = self.features(state_action_features(batch.flat("obs"), batch.flat("env_actions"),
                                                        self._n_discrete))
            length = np.mean(batch.episode_lengths) if batch.episode_lengths else batch.rewards.shape[0]
            mu_policy = feats.mean(0) * float(length)
            w = worst_case_weights(mu_policy, self._mu_expert, self.config.cost_class)
            rewards = -(feats @ w)
        gap = float((mu_policy - self._mu_expert) @ w)
        return rewards.double().numpy().reshape(batch.rewards.shape), {"cost/worst_case_gap": gap}

    def _state(self) -> dict[str, dict]:
        return {**super()._state(), "features": self.features.state_dict()}

    def _load_state(self, state: dict[str, dict]) -> None:
        super()._load_state(state)
        self.features.load_state_dict(state["features"])
        if self.demos is not None:
            self._mu_expert = self._expert_expectation()
