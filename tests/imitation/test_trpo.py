"""TRPO step, conjugate gradient and GAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import kl_divergence

from dgmlab.imitation.gae import gae
from dgmlab.imitation.policies import Policy
from dgmlab.imitation.trpo import TRPOStepConfig, conjugate_gradient, trpo_step


def test_conjugate_gradient_solves_spd_system() -> None:
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(8, 8, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(8, dtype=torch.float64)
    b = torch.randn(8, generator=gen, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=50)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("max_kl", [0.01, 0.001])
def test_trpo_step_respects_kl_and_improves_surrogate(discrete: bool, max_kl: float) -> None:
    torch.manual_seed(1)
    policy = Policy(obs_dim=4, n_actions=3, discrete=discrete, hidden=(16, 16))
    obs = torch.randn(512, 4)
    with torch.no_grad():
        old = policy.distribution(obs)
        actions = old.sample()
    advantages = torch.randn(512)
    before = [p.detach().clone() for p in policy.parameters()]
    cfg = TRPOStepConfig(max_kl=max_kl)
    for _ in range(3):  # the constraint holds at every step, relative to the policy before that step
        with torch.no_grad():
            prev = policy.distribution(obs)
        stats = trpo_step(policy, obs, actions, advantages, cfg)
        with torch.no_grad():
            kl = float(kl_divergence(prev, policy.distribution(obs)).mean())
        assert kl <= max_kl + 1e-7
        assert stats["losses/approx_kl"] == pytest.approx(kl, rel=1e-4, abs=1e-9)
        assert stats["losses/surrogate_improve"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))


def test_trpo_step_without_improvement_leaves_policy_unchanged() -> None:
    torch.manual_seed(2)
    policy = Policy(obs_dim=3, n_actions=2, discrete=True, hidden=(8,))
    obs = torch.randn(64, 3)
    actions = torch.randint(0, 2, (64,))
    state = {k: v.clone() for k, v in policy.state_dict().items()}
    stats = trpo_step(policy, obs, actions, torch.zeros(64), TRPOStepConfig())
    assert stats["losses/step_fraction"] == 0.0
    for k, v in policy.state_dict().items():
        assert torch.equal(v, state[k])


def test_gae_matches_hand_computation() -> None:
    # One env, 4 steps: episode ends by termination at t=1, then is cut by truncation at t=3 (end of batch).
    r = np.array([[1.0], [2.0], [3.0], [4.0]])
    v = np.array([[0.5], [1.0], [1.5], [2.0]])
    nv = np.array([[1.0], [9.0], [2.0], [3.0]])  # V(s_{t+1}); 9.0 is the terminal state's value and must be ignored
    term = np.array([[False], [True], [False], [False]])
    trunc = np.array([[False], [False], [False], [True]])
    g, lam = 0.9, 0.5
    d0 = 1.0 + g * 1.0 - 0.5
    d1 = 2.0 - 1.0
    d2 = 3.0 + g * 2.0 - 1.5
    d3 = 4.0 + g * 3.0 - 2.0
    expected = np.array([[d0 + g * lam * d1], [d1], [d2 + g * lam * d3], [d3]])
    adv, targets = gae(r, v, nv, term, trunc, g, lam)
    np.testing.assert_allclose(adv, expected)
    np.testing.assert_allclose(targets, expected + v)


def test_gae_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="next_values"):
        gae(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((3, 2), bool), np.zeros((3, 2), bool),
            0.99, 0.95)
