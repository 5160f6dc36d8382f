"""PICO's loop on toy domains: only block 0 decides the user's action, or which block decides it varies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from dgmlab.pico.bitstream import LatentCode
from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.domain import Domain, hold_previous_fill
from dgmlab.pico.evaluate import evaluate_masks, evaluate_method, paired_difference
from dgmlab.pico.masking import candidate_subsets

_spec = importlib.util.spec_from_file_location("pico_toy", Path(__file__).with_name("toy.py"))
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


@pytest.fixture(scope="module")
def trained():
    domain = toy.toy_domain()
    return domain, PICO.for_domain(domain, PICOConfig(budget=0.25, rounds=2)).fit(domain)


def test_losses_decrease_and_pico_keeps_exactly_the_block_that_matters(trained):
    domain, model = trained
    h, e = model.history, model.cfg.disc_epochs
    assert h["disc"][e - 1] < h["disc"][0]            # first round's D, R, compressor each improve
    assert h["reward"][model.cfg.reward_epochs - 1] < h["reward"][0]
    assert h["comp"][model.cfg.comp_epochs - 1] < h["comp"][0]
    masks = model.masks(domain.features, np.random.default_rng(0))
    assert masks.sum(1).tolist() == [1] * len(masks)   # rho K = 1 block exactly
    assert masks[:, 0].mean() == 1.0                  # and it is block 0, for every observation


def test_pico_beats_non_adaptive_at_the_same_bits(trained):
    domain, model = trained
    pico = evaluate_method(domain, "pico", 0.25, 0.25, model)
    rand = evaluate_method(domain, "random", 0.25, 0.25)
    assert pico["agree_argmax"] > 0.95 > rand["agree_argmax"]
    assert abs(pico["bits_per_obs"] - rand["bits_per_obs"]) < 1.0
    paired = paired_difference(domain, 0.25, 0.25, ("pico", model), ("random", None))
    assert paired["diff_argmax"] == pytest.approx(pico["agree_argmax"] - rand["agree_argmax"])
    assert paired["diff_argmax"] > 5 * paired["diff_argmax_se"] > 0
    same = paired_difference(domain, 0.25, 0.25, ("pico", model), ("pico", model))
    assert same["diff_argmax"] == same["diff_argmax_se"] == same["diff_prob"] == 0.0


def test_save_load_round_trip(trained, tmp_path):
    domain, model = trained
    model.save(tmp_path / "m")
    again = PICO.load(tmp_path / "m")
    assert np.array_equal(again.logits(domain.features), model.logits(domain.features))
    assert again.cfg == model.cfg


def test_rate_aware_objective_keeps_block_zero_and_drops_the_rest():
    domain = toy.toy_domain()
    model = PICO.for_domain(domain, PICOConfig(rate_lambda=0.02, rounds=2)).fit(domain)
    masks = model.masks(domain.features, np.random.default_rng(0))
    assert masks[:, 0].mean() > 0.9 and masks[:, 1:].mean() < 0.1


def test_bad_inputs_are_clear_errors(trained):
    domain, model = trained
    with pytest.raises(ValueError, match="budget"):
        PICOConfig(budget=1.2)
    with pytest.raises(ValueError, match="objective"):
        PICOConfig(objective="mse")
    with pytest.raises(ValueError, match="features"):
        model.logits(np.zeros((3, 5)))
    other = toy.toy_domain(blocks=6)
    with pytest.raises(ValueError, match="does not match"):
        model.fit(other)
    with pytest.raises(ValueError, match="multiple of block_size"):
        Domain(domain.features, domain.latents, 3, domain.original_probs, domain.fill, domain.user_probs,
               domain.distortion)
    with pytest.raises(ValueError, match="disagree on N"):
        Domain(domain.features, domain.latents[:-1], 1, domain.original_probs, domain.fill, domain.user_probs,
               domain.distortion)


def test_hold_previous_fill_keeps_the_last_received_value_per_episode():
    values = np.array([[1.0, np.nan], [np.nan, 2.0], [np.nan, np.nan], [np.nan, 5.0]])
    out = hold_previous_fill(np.array([True, False, False, True]))(values)
    assert out.tolist() == [[1.0, 0.0], [1.0, 2.0], [1.0, 2.0], [0.0, 5.0]]


def test_pico_learns_observation_dependent_masks_where_the_block_that_matters_varies():
    train, test = toy.switch_domain(), toy.switch_domain(n=400, seed=1)
    model = PICO.for_domain(train, PICOConfig(budget=0.5, rounds=2)).fit(train)
    masks = model.masks(test.features, np.random.default_rng(0))
    assert masks.sum(1).tolist() == [2] * len(masks)
    z = test.latents
    # a sufficient mask keeps the selector and the block the user reads, or both candidates when their signs agree
    read = np.where(z[:, 2] > 0, 0, 1)
    keeps_read = masks[:, 2] & masks[np.arange(len(z)), read]
    hedge = masks[:, 0] & masks[:, 1] & (np.sign(z[:, 0]) == np.sign(z[:, 1]))
    clear = np.abs(z[:, 2]) > 0.25  # the selector survives quantisation with its sign
    assert (keeps_read | hedge)[clear].mean() > 0.95
    for mask, side in (([True, False, True, False], z[:, 2] > 0), ([False, True, True, False], z[:, 2] < 0)):
        rows = (masks == mask).all(1)
        assert rows.mean() > 0.2 and side[rows].mean() > 0.9  # {0, 2} where z_2 > 0, {1, 2} where z_2 < 0
    pico = evaluate_masks(test, masks, LatentCode(1, 0.25, 0.5))[0]
    best_fixed = max(evaluate_masks(test, np.repeat(m[None], len(masks), 0), LatentCode(1, 0.25, 0.5))[0]
                     ["agree_argmax"] for m in candidate_subsets(4, 2, 6, np.random.default_rng(0)))
    assert pico["agree_argmax"] > 0.9 > best_fixed + 0.1


def test_gaussian_discriminator_learns_continuous_actions_and_keeps_the_block_that_matters():
    domain = toy.toy_domain()
    model = PICO.for_domain(domain, PICOConfig(budget=0.25, rounds=2, discriminator="gaussian")).fit(domain)
    e = model.cfg.disc_epochs
    assert model.history["disc"][e - 1] < model.history["disc"][0]
    assert model.masks(domain.features, np.random.default_rng(0))[:, 0].mean() > 0.95  # z_0 ~ 0: any block will do
    # D scores the user's action on x above a wrong one: a Gaussian score around g(x)
    x = torch.as_tensor(domain.features)
    right = torch.as_tensor(domain.action_values(domain.latents), dtype=torch.float32)
    with torch.no_grad():
        d_right, d_wrong = model.discriminator(x, right), model.discriminator(x, -right)
    clear = right[:, 0].abs() > 0.3  # the two actions differ by > 0.6
    assert (d_right > d_wrong)[clear].float().mean() > 0.8 and d_right.mean() > d_wrong.mean() + 0.2


def test_gaussian_discriminator_bad_inputs_are_clear_errors():
    domain = toy.switch_domain()  # discrete actions only
    with pytest.raises(ValueError, match="continuous actions"):
        PICO.for_domain(domain, PICOConfig(discriminator="gaussian"))
    with pytest.raises(ValueError, match="discriminator"):
        PICOConfig(discriminator="laplace")
    model = PICO.for_domain(toy.toy_domain(n=40), PICOConfig(discriminator="gaussian"))
    data = {"mask": np.ones((40, 4), bool), "action": np.zeros((40, 1)), "mae": np.zeros(40)}
    with pytest.raises(ValueError, match="continuous actions"):
        model.train_round(np.zeros((40, 4), np.float32), np.zeros(40, np.int64), data, 1)
