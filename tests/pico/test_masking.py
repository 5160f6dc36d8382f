"""Budgets, top-k and relaxed masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab.pico.masking import budget_to_k, check_budget, k_distribution, random_mask, relaxed_mask, topk_mask


@pytest.mark.parametrize("rho,blocks", [(0.3, 8), (0.125, 8), (1 / 3, 10), (0.0, 5), (1.0, 5), (0.99, 32)])
def test_k_hits_the_budget_exactly_in_expectation(rho, blocks):
    probs = k_distribution(rho, blocks)
    assert probs.sum() == pytest.approx(1.0)
    assert (probs * np.arange(blocks + 1)).sum() == pytest.approx(rho * blocks, abs=1e-12)
    assert np.count_nonzero(probs) <= 2  # only floor and ceil
    k = budget_to_k(rho, blocks, np.random.default_rng(1), 200_000)
    assert abs(k.mean() - rho * blocks) < 4 * np.sqrt(probs @ (np.arange(blocks + 1) - rho * blocks) ** 2 / 2e5) + 1e-9


def test_topk_keeps_the_highest_scores_and_random_masks_have_k_blocks():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [4.0, 3.0, 2.0, 1.0]])
    assert topk_mask(scores, np.array([2, 1])).tolist() == [[False, True, True, False], [True, False, False, False]]
    k = np.array([0, 1, 2, 3, 4])
    assert random_mask(5, 4, k, np.random.default_rng(0)).sum(1).tolist() == k.tolist()


def test_relaxed_mask_sums_to_the_budget_and_passes_gradients():
    logits = torch.randn(16, 8, requires_grad=True)
    m = relaxed_mask(logits, 2.5, temperature=0.3)
    assert torch.allclose(m.sum(-1), torch.full((16,), 2.5), atol=1e-4)
    (m * torch.arange(8.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half", None])
def test_budget_outside_unit_interval_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="budget"):
        check_budget(bad)


def test_k_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="k"):
        topk_mask(np.zeros((2, 4)), np.array([5, 1]))
    with pytest.raises(ValueError, match="k"):
        relaxed_mask(torch.zeros(2, 4), 4.5)
