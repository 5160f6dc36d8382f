"""Tiny end-to-end runs of ``dgmlab pico digits`` and ``dgmlab pico car`` through the CLI (seconds, not minutes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dgmlab.cli import main


def test_digits_tiny_end_to_end_and_the_human_path(tmp_path, monkeypatch):
    out = tmp_path / "digits"
    argv = ["pico", "digits", "--out", str(out), "--budgets", "0.25,0.5", "--rounds", "1", "--epochs", "1",
            "--passes", "1", "--vae-epochs", "2", "--classifier-epochs", "2", "--qualities", "50",
            "--rate-lambdas", "0.01"]
    assert main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in rows} == {"pico", "random", "perceptual", "pico_rate", "jpeg", "webp"}
    for r in rows:
        assert 0 <= r["agree_argmax"] <= 1 and r["bits_per_obs"] > 0
    for name in ("results.csv", "agreement.png", "gallery.png", "models/pico_0.25/pico.pt"):
        assert (out / name).is_file(), name
    paired = json.loads((out / "paired.json").read_text())  # PICO minus each baseline, on the same digits
    assert {(r["budget"], r["b"]) for r in paired} == {(b, m) for b in (0.25, 0.5) for m in ("perceptual", "random")}
    assert all(-1 <= r["diff_argmax"] <= 1 and r["diff_argmax_se"] >= 0 for r in paired)
    stamp = (out / "models" / "pico_0.25" / "pico.pt").stat().st_mtime_ns
    assert main(argv) == 0  # a re-run loads the trained models
    assert (out / "models" / "pico_0.25" / "pico.pt").stat().st_mtime_ns == stamp
    # the human path: queries from the trained PICO model, labels typed at the keyboard, one training round
    queries, labels = tmp_path / "q.npz", tmp_path / "labels.csv"
    assert main(["pico", "queries", "--digits", str(out), "--model", str(out / "models" / "pico_0.25"),
                 "--count", "6", "--passes", "1", "--out", str(queries)]) == 0
    keys = iter(["7", "x", "3"] + ["1"] * 9 + ["q"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(keys))
    assert main(["pico", "label", str(queries), "--labels", str(labels)]) == 0
    assert len(labels.read_text().splitlines()) == 1 + 11  # "x" was refused, "q" stopped after 11 labels
    with pytest.raises(ValueError, match="1 of 12 queries have no label"):
        main(["pico", "train-labels", str(queries), "--labels", str(labels), "--out", str(tmp_path / "h")])
    keys = iter(["4"])
    assert main(["pico", "label", str(queries), "--labels", str(labels)]) == 0
    assert main(["pico", "train-labels", str(queries), "--labels", str(labels), "--out", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h" / "pico.pt").is_file()


def test_digits_bad_budget_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="budget"):
        main(["pico", "digits", "--out", str(tmp_path), "--budgets", "0.5,1.5"])


@pytest.fixture
def wm_run(tmp_path):
    """A World Models run directory with untrained (seeded) VAE, MDN-RNN and controller, in the real formats."""
    from dgmlab.world_models.config import RNNConfig, VAEConfig
    from dgmlab.world_models.controller import n_params
    from dgmlab.world_models.mdn_rnn import MDNRNN, save_rnn
    from dgmlab.world_models.vae import ConvVAE, save_vae

    torch.manual_seed(0)
    run = tmp_path / "wm"
    save_vae(ConvVAE(32), run / "vae" / "vae.pt", VAEConfig())
    (run / "rnn").mkdir()
    save_rnn(MDNRNN(32, 16, 2), run / "rnn" / "rnn.pt", RNNConfig())
    (run / "controller").mkdir()
    best = np.random.default_rng(0).normal(0, 0.3, n_params(32, 16))
    np.savez(run / "controller" / "cmaes_history.npz", best=best)
    return run


def test_car_tiny_end_to_end_with_closed_loop(wm_run, tmp_path):
    out = tmp_path / "car"
    argv = ["pico", "car", "--run", str(wm_run), "--out", str(out), "--budgets", "0.25", "--rounds", "1",
            "--epochs", "1", "--passes", "1", "--train-episodes", "1", "--test-episodes", "1",
            "--record-steps", "12", "--tracks", "2", "--max-steps", "12", "--loop-budgets", "0.25",
            "--loop-methods", "pico,random", "--code", "predictive"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "closed_loop_episodes.jsonl").read_text().splitlines()]
    assert {r["code"] for r in rows} == {"predictive"}
    summary = json.loads((out / "closed_loop.json").read_text())
    assert [(r["method"], r["tracks"]) for r in summary] == [("uncompressed", 2), ("pico", 2), ("random", 2)]
    assert all(r["bits_per_frame"] > 0 for r in summary[1:])
    for name in ("results.csv", "agreement.png", "closed_loop.png", "episodes_train.npz"):
        assert (out / name).is_file(), name
    paired = json.loads((out / "paired.json").read_text())  # PICO minus each baseline, on the same frames
    assert {(r["budget"], r["b"]) for r in paired} == {(0.25, "perceptual"), (0.25, "random")}


def test_car_rollout_mirrors_the_receiver(wm_run, tmp_path):
    """The held latents the compressor sees are exactly what hold-previous decoding gives for the frame before."""
    from dgmlab.pico.car_racing import car_domain, load_car_models, record_episodes
    from dgmlab.pico.core import received_latents
    from dgmlab.pico.masking import random_mask

    models = load_car_models(wm_run)
    data = record_episodes(models, [5, 6], 8, tmp_path / "ep.npz")
    domain = car_domain(models, data, step=0.5)
    rng = np.random.default_rng(0)
    masks, seen = domain.run_policy(lambda f: random_mask(len(f), 8, rng.integers(0, 9, len(f)), rng))
    held, received = seen[:, 32 + 16:], received_latents(domain, masks, 0.5)
    for t in range(1, len(masks)):
        expected = 0.0 if data["starts"][t] else received[t - 1]
        assert np.allclose(held[t], expected, atol=1e-6)
    assert np.all(held[data["starts"]] == 0)


def test_car_needs_a_trained_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="World Models run directory"):
        main(["pico", "car", "--run", str(tmp_path), "--out", str(tmp_path / "o")])


def test_uncompressed_driver_is_the_world_models_agent(wm_run):
    """The closed loop's ceiling must be the agent `dgmlab wm eval` scores: same sampled latents, same actions."""
    from dgmlab.pico.car_racing import drive_episode, load_car_models
    from dgmlab.world_models.cmaes import load_best
    from dgmlab.world_models.env import CarRacingEnv
    from dgmlab.world_models.rollout import Agent, AgentSpec, run_episode

    seed, steps = 7, 40
    ours = drive_episode(load_car_models(wm_run), None, seed, 0.25, max_steps=steps)
    agent = Agent(load_best(wm_run / "controller"), AgentSpec(str(wm_run), True, steps), seed)
    env = CarRacingEnv(fast=True, max_steps=steps)
    try:
        score, theirs = run_episode(env, agent.act, seed, record=True)
    finally:
        env.close()
    assert ours["score"] == score
    assert np.array_equal(ours["log"]["action"].astype(np.float32), theirs["action"])


def test_closed_loop_bits_under_prior_and_predictive_codes(wm_run):
    """Both coders decode to the latents the controller drove on (drive_episode checks it) and report their bytes."""
    from dgmlab.pico.car_racing import drive_episode, load_car_models
    from dgmlab.pico.masking import random_mask

    models = load_car_models(wm_run)
    results = {}
    for code in ("prior", "predictive"):
        rng = np.random.default_rng(0)

        def choose(f, rng=rng):
            return random_mask(1, 8, np.array([3]), rng)[0]

        results[code] = drive_episode(models, choose, 9, 0.25, max_steps=30, budget=3 / 8, code=code)
        r = results[code]
        assert r["bits_per_frame"] == 8 * r["bytes"] / r["frames"]
    assert np.array_equal(results["prior"]["log"]["z"], results["predictive"]["log"]["z"])  # same drive
    assert results["prior"]["bytes"] != results["predictive"]["bytes"]
    rng = np.random.default_rng(0)
    both = drive_episode(models, lambda f: random_mask(1, 8, np.array([3]), rng)[0], 9, 0.25, max_steps=30,
                         budget=3 / 8, code=("predictive", "prior"))  # one drive coded both ways
    assert both["bits_by_code"] == {c: r["bits_per_frame"] for c, r in results.items()}
    assert both["bytes"] == results["predictive"]["bytes"]
    with pytest.raises(ValueError, match="code: expected one of"):
        drive_episode(models, None, 9, 0.25, max_steps=5, code="mdn")


def test_car_continuous_actions_train_the_gaussian_discriminator(wm_run, tmp_path):
    """The car domain's continuous actions are the controller's, and a PICO round runs on them."""
    from dgmlab.pico.car_racing import car_domain, load_car_models, record_episodes
    from dgmlab.pico.core import PICO, PICOConfig

    models = load_car_models(wm_run)
    data = record_episodes(models, [5], 10, tmp_path / "ep.npz")
    domain = car_domain(models, data)
    assert np.allclose(domain.action_values(data["mu"]), data["action"], atol=1e-6)  # what the agent did
    cfg = PICOConfig(budget=0.25, rounds=1, passes=1, disc_epochs=2, reward_epochs=1, comp_epochs=1,
                     discriminator="gaussian")
    model = PICO.for_domain(domain, cfg).fit(domain)
    assert model.shape["action_dim"] == 3 and len(model.history["disc"]) == 2
    masks, _ = domain.run_policy(lambda f: model.masks(f, np.random.default_rng(0)))
    assert masks.shape == (10, 8) and (masks.sum(1) == 2).all()


def test_closed_loop_resumes_per_track_and_per_coder(wm_run, tmp_path):
    """A track's drive does not depend on the tracks run before it (a resumed run equals a fresh one), and a second
    coder in the same directory redrives the same episodes: same scores and masks, its own bits, summarised apart."""
    base = ["pico", "car", "--run", str(wm_run), "--budgets", "0.25", "--rounds", "1", "--epochs", "1",
            "--passes", "1", "--train-episodes", "1", "--test-episodes", "1", "--record-steps", "8",
            "--max-steps", "10", "--loop-budgets", "0.25", "--loop-methods", "random,pico"]

    def rows(out):
        return [json.loads(line) for line in (out / "closed_loop_episodes.jsonl").read_text().splitlines()]

    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    assert main(base + ["--out", str(fresh), "--tracks", "3"]) == 0
    assert main(base + ["--out", str(resumed), "--tracks", "1"]) == 0
    assert main(base + ["--out", str(resumed), "--tracks", "3"]) == 0  # tracks 2 and 3 only
    key = {(r["method"], r["seed"]): r for r in rows(resumed)}
    assert len(key) == len(rows(resumed)) == 9
    assert all(key[(r["method"], r["seed"])] == r for r in rows(fresh))
    assert main(base + ["--out", str(resumed), "--tracks", "3", "--code", "predictive"]) == 0
    new = rows(resumed)[9:]
    assert {(r["method"], r["code"]) for r in new} == {("random", "predictive"), ("pico", "predictive")}  # no
    for r in new:                                                                 # uncompressed redrive
        prior = key[(r["method"], r["seed"])]
        assert r["score"] == prior["score"] and r["bits_per_frame"] != prior["bits_per_frame"]
        assert all(r[s] == prior[s] for s in ("distinct_masks", "never_sent_blocks", "mean_age"))
    assert main(base + ["--out", str(resumed), "--tracks", "4", "--code", "both"]) == 0  # track 4 only, once
    last = rows(resumed)[15:]
    assert [(r["method"], r["code"]) for r in last] == [
        ("uncompressed", "prior"), ("random", "prior"), ("random", "predictive"), ("pico", "prior"),
        ("pico", "predictive")]
    assert all(r["seed"] == 3_000_003 for r in last)
    summary = json.loads((resumed / "closed_loop.json").read_text())
    assert [(r["method"], r["code"], r["tracks"]) for r in summary] == [
        ("uncompressed", None, 4), ("random", "prior", 4), ("pico", "prior", 4), ("random", "predictive", 4),
        ("pico", "predictive", 4)]


def test_mask_staleness_counts_frames_since_each_block_was_sent():
    from dgmlab.pico.car_racing import mask_staleness

    masks = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    # ages per frame (block 0, 1, 2): (0, 1, 1), (1, 0, 2), (2, 1, 3), (0, 2, 4)
    assert mask_staleness(masks) == {"distinct_masks": 3, "never_sent_blocks": 1, "mean_age": 17 / 12}
