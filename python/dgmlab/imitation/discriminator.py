"""The GAIL discriminator D_w(s, a) in (0, 1) and its loss (Eq. 2.26), in the thesis' convention.

D is the probability that a state-action pair came from the *policy* (not the expert): the discriminator ascends
``E_pi[log D] + E_E[log(1 - D)]`` (Eq. 2.26), i.e. it minimises the binary cross-entropy with label 1 for policy
pairs and 0 for expert pairs, and the policy's cost is ``c(s, a) = log D(s, a)`` (Algorithm 2.1, line 5). Inputs
[s, a] (discrete actions one-hot) are standardised with the expert data's mean and standard deviation, held in
buffers so they travel with the ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dgmlab.imitation.policies import DEFAULT_HIDDEN, mlp


def state_action_features(obs: np.ndarray, actions: np.ndarray, n_discrete: int | None) -> torch.Tensor:
    """Rows [s, a] as float32, with discrete actions (``n_discrete`` of them) one-hot encoded."""
    obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(len(obs), -1)
    if n_discrete is not None:
        act_t = F.one_hot(torch.as_tensor(np.asarray(actions), dtype=torch.int64).reshape(-1), n_discrete).float()
    else:
        act_t = torch.as_tensor(np.asarray(actions), dtype=torch.float32).reshape(len(actions), -1)
    return torch.cat([obs_t, act_t], dim=1)


class Discriminator(nn.Module):
    """Logit of D(s, a) = P(policy | s, a) from a tanh MLP on standardised [s, a]."""

    def __init__(self, in_dim: int, hidden: Sequence[int] = DEFAULT_HIDDEN) -> None:
        super().__init__()
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))
        self.net = mlp([in_dim, *hidden, 1])

    @torch.no_grad()
    def fit_standardizer(self, expert_inputs: torch.Tensor) -> None:
        """Standardise inputs with the expert data's statistics (constant columns keep unit scale)."""
        self.in_mean.copy_(expert_inputs.mean(0))
        std = expert_inputs.std(0) if len(expert_inputs) > 1 else torch.ones_like(self.in_std)
        self.in_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net((inputs - self.in_mean) / self.in_std).squeeze(-1)


def discriminator_loss(logits_policy: torch.Tensor, logits_expert: torch.Tensor,
                       entropy_coef: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Negated Eq. 2.26 (BCE: policy -> 1, expert -> 0), each side averaged, minus an optional entropy bonus."""
    loss = F.binary_cross_entropy_with_logits(logits_policy, torch.ones_like(logits_policy)) + \
        F.binary_cross_entropy_with_logits(logits_expert, torch.zeros_like(logits_expert))
    logits = torch.cat([logits_policy, logits_expert])
    entropy = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(logits))
    total = loss - entropy_coef * entropy
    stats = {"disc/loss": float(loss.detach()), "disc/entropy": float(entropy.detach()),
             "disc/policy_acc": float((logits_policy > 0).float().mean()),
             "disc/expert_acc": float((logits_expert < 0).float().mean())}
    return total, stats


def imitation_reward(logits: torch.Tensor, form: str) -> torch.Tensor:
    """Reward for the policy from discriminator logits (D = sigmoid(logits) = P(policy)).

    ``"neg_log_d"``: r = -log D, the negated thesis cost log D; always positive, so it also rewards staying alive
    (right for Hopper, CartPole, ...). ``"log_one_minus_d"``: r = log(1 - D); always negative, so it favours ending
    episodes sooner (right where the expert ends episodes by succeeding: MountainCar, Acrobot).
    """
    if form == "neg_log_d":
        return -F.logsigmoid(logits)
    if form == "log_one_minus_d":
        return F.logsigmoid(-logits)
    raise ValueError(f"reward_form: expected 'neg_log_d' or 'log_one_minus_d', got {form!r}")
