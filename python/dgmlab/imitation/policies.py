"""Policies, value networks and the running observation normaliser.

The thesis (Section 2.6) uses the same network for every task and every algorithm: two hidden layers of 100 tanh
units. Continuous actions get a Gaussian with a learned, state-independent log standard deviation; discrete actions
a categorical distribution. Observations are standardised with running statistics that live in the policy's
``state_dict`` (buffers), so a saved policy acts correctly without any side file::

    policy = make_policy(env.observation_space, env.action_space)
    dist = policy.distribution(torch.as_tensor(obs))
    action = dist.sample()
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

DEFAULT_HIDDEN: tuple[int, ...] = (100, 100)


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raise ``ValueError`` unless observations are a flat ``Box`` and actions a ``Box`` or ``Discrete``."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"observation_space: expected a 1-D gymnasium.spaces.Box, got {observation_space!r}")
    if isinstance(action_space, gym.spaces.Box):
        if len(action_space.shape) != 1:
            raise ValueError(f"action_space: expected a 1-D Box, got shape {action_space.shape}")
    elif not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"action_space: expected gymnasium.spaces.Box or Discrete, got {action_space!r}")


def mlp(sizes: Sequence[int], out_gain: float = 1.0) -> nn.Sequential:
    """Tanh MLP ``sizes[0] -> ... -> sizes[-1]`` with orthogonal init and a linear output layer."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else np.sqrt(2.0))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class RunningNorm(nn.Module):
    """Running mean / variance (parallel Welford update) used to standardise inputs; state is in buffers."""

    def __init__(self, dim: int, clip: float = 10.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor | np.ndarray) -> None:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64).reshape(-1, self.mean.numel())
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta.square() * self.count * n / total
        self.mean += delta * n / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(self.var + 1e-8)
        return ((x - self.mean.to(x.dtype)) / std.to(x.dtype)).clamp(-self.clip, self.clip)


class Policy(nn.Module):
    """Stochastic policy pi(a|s): observation normaliser + tanh MLP + action distribution head."""

    def __init__(self, obs_dim: int, n_actions: int, discrete: bool, hidden: Sequence[int] = DEFAULT_HIDDEN,
                 init_log_std: float = 0.0) -> None:
        super().__init__()
        self.discrete = discrete
        self.obs_norm = RunningNorm(obs_dim)
        self.net = mlp([obs_dim, *hidden, n_actions], out_gain=0.01)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((n_actions,), float(init_log_std)))

    def distribution(self, obs: torch.Tensor) -> Distribution:
        """pi(.|s) for a batch of raw (unnormalised) observations."""
        out = self.net(self.obs_norm(obs.float()))
        if self.discrete:
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions for a batch of observations (mode if ``deterministic``) as a numpy array."""
        dist = self.distribution(torch.as_tensor(obs, dtype=torch.float32))
        if deterministic:
            action = dist.probs.argmax(-1) if self.discrete else dist.mean
        else:
            action = dist.sample()
        return action.numpy()


class ValueNet(nn.Module):
    """State-value baseline V(s) on observations standardised by the policy's normaliser."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = DEFAULT_HIDDEN) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden, 1])

    def forward(self, normalized_obs: torch.Tensor) -> torch.Tensor:
        return self.net(normalized_obs).squeeze(-1)


def action_dim(action_space: gym.Space) -> int:
    """Width of the policy head: number of actions (discrete) or action dimensions (continuous)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    return int(action_space.shape[0])


def make_policy(observation_space: gym.Space, action_space: gym.Space, hidden: Sequence[int] = DEFAULT_HIDDEN,
                init_log_std: float = 0.0) -> Policy:
    """Policy for the given gymnasium spaces (validated)."""
    check_spaces(observation_space, action_space)
    discrete = isinstance(action_space, gym.spaces.Discrete)
    return Policy(observation_space.shape[0], action_dim(action_space), discrete, hidden, init_log_std)


def predict_actions(policy: Policy, obs: np.ndarray, observation_space: gym.spaces.Box, action_space: gym.Space,
                    deterministic: bool = False) -> np.ndarray:
    """Action(s) for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``, within the action bounds."""
    obs = np.asarray(obs, dtype=np.float32)
    expected = observation_space.shape[0]
    if obs.ndim not in (1, 2) or obs.shape[-1] != expected:
        raise ValueError(f"obs: expected shape [{expected}] or [B, {expected}], got {list(obs.shape)}")
    actions = policy.act(obs.reshape(-1, expected), deterministic)
    if isinstance(action_space, gym.spaces.Box):
        actions = np.clip(actions, action_space.low, action_space.high)
    return actions[0] if obs.ndim == 1 else actions
