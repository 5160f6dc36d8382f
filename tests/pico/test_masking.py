"""Budgets, top-k, the subset policy, relaxed masks and mask-usage statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab.pico.masking import (
    budget_to_k,
    candidate_subsets,
    check_budget,
    gumbel_topk_mask,
    k_distribution,
    mask_usage,
    random_mask,
    relaxed_mask,
    subset_log_policy,
    topk_mask,
)


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


def test_candidate_subsets_enumerate_all_or_sample_distinct_ones():
    rng = np.random.default_rng(0)
    full = candidate_subsets(6, 2, 100, rng)
    assert len(full) == 15 and (full.sum(1) == 2).all() and len(np.unique(full, axis=0)) == 15
    sampled = candidate_subsets(14, 7, 50, rng)  # C(14, 7) = 3432 > 50
    assert len(sampled) == 50 and (sampled.sum(1) == 7).all() and len(np.unique(sampled, axis=0)) == 50
    with pytest.raises(ValueError, match="k"):
        candidate_subsets(4, 5, 10, rng)


def test_subset_policy_is_a_distribution_whose_mode_is_the_top_k():
    logits = torch.randn(8, 6)
    subsets = torch.as_tensor(candidate_subsets(6, 3, 100, np.random.default_rng(0)))
    logp = subset_log_policy(logits, subsets)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(8), atol=1e-6)
    mode = subsets[logp.argmax(-1)].numpy()
    assert np.array_equal(mode, topk_mask(logits.numpy(), np.full(8, 3)))


def test_gumbel_topk_keeps_k_blocks_and_follows_clear_logits():
    rng = np.random.default_rng(0)
    logits = np.tile([0.0, 0.0, 0.0, 0.0, 0.0], (1000, 1))
    masks = gumbel_topk_mask(logits, np.full(1000, 2), rng)
    assert (masks.sum(1) == 2).all() and np.allclose(masks.mean(0), 0.4, atol=0.06)  # uniform for equal logits
    clear = gumbel_topk_mask(np.tile([50.0, 0.0, 0.0, 50.0, 0.0], (100, 1)), np.full(100, 2), rng)
    assert (clear == [True, False, False, True, False]).all()


def test_mask_usage_counts_masks_and_their_entropy():
    one = mask_usage(np.tile([True, False, True], (10, 1)))
    assert one["distinct_masks"] == 1 and one["mask_entropy_bits"] == 0.0 and one["keep_rates"] == [1.0, 0.0, 1.0]
    two = mask_usage(np.array([[True, False], [False, True]] * 5))
    assert two["distinct_masks"] == 2 and two["mask_entropy_bits"] == pytest.approx(1.0)
