"""Informative blocks first: blocks whose posterior is the prior (KL below ``PICOConfig.informative_kl``) are kept
only once every informative block is, in collection, the subset policy and deployment."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.domain import Domain, gaussian_block_kl
from dgmlab.pico.masking import candidate_subsets, informative_blocks, random_mask, topk_mask

_spec = importlib.util.spec_from_file_location("pico_toy", Path(__file__).with_name("toy.py"))
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)

_FAST = {"rounds": 1, "passes": 4, "disc_epochs": 8, "reward_epochs": 8, "comp_epochs": 8}


def test_block_kl_of_known_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar))),
        torch.distributions.Normal(0.0, 1.0)).numpy()
    got = gaussian_block_kl(mu, logvar, 3)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, ref.mean(0).reshape(2, 3).sum(1), rtol=1e-12)
    # posterior = prior: exactly 0; mu = 1, sigma = 1: 0.5 nats per latent
    assert gaussian_block_kl(np.zeros((4, 2)), np.zeros((4, 2)), 1).tolist() == [0.0, 0.0]
    assert gaussian_block_kl(np.ones((4, 2)), np.zeros((4, 2)), 2).tolist() == [1.0]
    with pytest.raises(ValueError, match="block_size"):
        gaussian_block_kl(mu, logvar, 4)


def test_informative_blocks_threshold_and_fallbacks():
    kl = np.array([1.0, 0.001, 0.5, 0.0])
    assert informative_blocks(kl, 0.01, 4).tolist() == [True, False, True, False]
    assert informative_blocks(kl, 0.0, 4).all()          # 0 disables
    assert informative_blocks(None, 0.01, 4).all()       # unknown KL: every block counts
    assert informative_blocks(kl, 5.0, 4).all()          # none informative: nothing to rank
    with pytest.raises(ValueError, match="block_kl"):
        informative_blocks(kl, 0.01, 5)


def test_masks_rank_informative_blocks_first():
    prio = np.array([False, True, False, True, True])
    scores = np.array([[9.0, 1.0, 8.0, 2.0, 3.0]])
    assert np.flatnonzero(topk_mask(scores, np.array([2]), prio)[0]).tolist() == [3, 4]
    assert np.flatnonzero(topk_mask(scores, np.array([4]), prio)[0]).tolist() == [0, 1, 3, 4]
    assert np.array_equal(topk_mask(scores, np.array([2]), np.ones(5, bool)), topk_mask(scores, np.array([2])))
    rng = np.random.default_rng(0)
    m = random_mask(2000, 5, np.full(2000, 2), rng, prio)
    assert not m[:, ~prio].any() and m.sum(1).tolist() == [2] * 2000
    assert len(np.unique(m, axis=0)) == 3                  # every 2-subset of the 3 informative blocks
    sub = candidate_subsets(5, 2, 256, rng, prio)
    assert len(sub) == 3 and not sub[:, ~prio].any()
    sub = candidate_subsets(5, 4, 256, rng, prio)          # all 3 informative + one of the 2 others
    assert len(sub) == 2 and sub[:, prio].all() and sub.sum(1).tolist() == [4, 4]
    sampled = candidate_subsets(12, 3, 5, rng, np.arange(12) < 8)   # C(8, 3) = 56 > 5: sampled, still allowed
    assert len(sampled) == 5 and not sampled[:, 8:].any()
    with pytest.raises(ValueError, match="priority"):
        topk_mask(scores, np.array([2]), prio[:4])


@pytest.mark.parametrize("budget", [0.25, 0.5])
def test_uninformative_block_is_never_kept_while_k_fits_the_informative_ones(budget):
    domain = toy.uninformative_domain()
    model = PICO.for_domain(domain, PICOConfig(budget=budget, **_FAST)).fit(domain)
    assert model.informative.tolist() == [True, True, False, False]
    masks = model.masks(domain.features, np.random.default_rng(0))
    assert masks.sum(1).tolist() == [round(4 * budget)] * len(masks)
    assert not masks[:, 2:].any()


def test_above_the_informative_count_all_are_kept_and_the_compressor_picks_the_rest():
    domain = toy.uninformative_domain()
    model = PICO.for_domain(domain, PICOConfig(budget=0.75, **_FAST)).fit(domain)
    masks = model.masks(domain.features, np.random.default_rng(0))
    assert masks[:, :2].all() and masks.sum(1).tolist() == [3] * len(masks)
    assert masks[:, 3].mean() > 0.95                       # the user reads block 3: PICO picks it over block 2
    off = PICO.for_domain(domain, PICOConfig(budget=0.25, informative_kl=0.0, **_FAST)).fit(domain)
    assert off.informative.all()                          # disabled: the free compressor keeps block 3
    assert off.masks(domain.features, np.random.default_rng(0))[:, 3].mean() > 0.95


def test_rate_aware_compressor_keeps_informative_blocks_only():
    domain = toy.uninformative_domain()
    model = PICO.for_domain(domain, PICOConfig(rate_lambda=0.01, **_FAST)).fit(domain)
    assert not model.masks(domain.features, np.random.default_rng(0))[:, 2:].any()


def test_informative_set_survives_save_and_load(tmp_path):
    domain = toy.uninformative_domain()
    model = PICO.for_domain(domain, PICOConfig(budget=0.25, **_FAST)).fit(domain)
    model.save(tmp_path / "m")
    again = PICO.load(tmp_path / "m")
    assert again.informative.tolist() == [True, True, False, False] and again.cfg == model.cfg
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert np.array_equal(again.masks(domain.features, rng_a), model.masks(domain.features, rng_b))


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="informative_kl"):
        PICOConfig(informative_kl=bad)


def test_domain_checks_block_kl_shape():
    domain = toy.uninformative_domain(n=10)
    with pytest.raises(ValueError, match="block_kl"):
        Domain(domain.features, domain.latents, 1, domain.original_probs, domain.fill, domain.user_probs,
               domain.distortion, block_kl=np.zeros(3))
