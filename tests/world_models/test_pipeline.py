"""The tiny end-to-end run through the CLI, resuming, configs and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dgmlab.cli import main
from dgmlab.world_models.config import PipelineConfig, load_config


def test_tiny_pipeline_end_to_end_and_resume(tmp_path):
    run = tmp_path / "run"
    assert main(["wm", "run", "--config", "tiny", "--run", str(run), "--workers", "2"]) == 0
    for name in ("data/ep_000002.npz", "vae/vae.pt", "latents/ep_000000.npz", "rnn/rnn.pt", "rnn/initial_z.npy",
                 "controller/cmaes_history.npz", "figures/vae.png", "figures/rnn.png", "figures/curves.png",
                 "figures/agent.gif", "eval.json"):
        assert (run / name).is_file(), name
    result = json.loads((run / "eval.json").read_text())
    assert len(result["controller"]["returns"]) == 2 and np.isfinite(result["controller"]["mean"])
    assert np.isfinite(result["dream_vs_real"]["dream_mean"])
    stages = json.loads((run / "stages.json").read_text())
    assert list(stages) == ["collect", "vae", "latents", "rnn", "controller", "controller_zonly", "eval"]
    # a second run skips every stage; train-controller continues the CMA-ES run from generation 2
    assert main(["wm", "run", "--run", str(run)]) == 0
    assert json.loads((run / "stages.json").read_text()) == stages
    assert main(["wm", "train-controller", "--run", str(run), "--generations", "3", "--workers", "2"]) == 0
    assert json.loads((run / "controller" / "cmaes_state.json").read_text())["generations_done"] == 3
    # a controller trained inside the dream, then scored in CarRacing by eval
    assert main(["wm", "train-controller", "--run", str(run), "--dream", "--generations", "1", "--workers", "2"]) == 0
    assert (run / "controller_dream" / "cmaes_history.npz").is_file()
    # the z-only comparison: --generations sets its length and leaves the full controller's in the saved config
    before = json.loads((run / "config.json").read_text())
    assert main(["wm", "train-controller", "--run", str(run), "--zonly", "--generations", "1", "--workers", "2"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["controller"] == before["controller"] and saved["zonly_generations"] == 1
    assert json.loads((run / "controller_zonly" / "cmaes_state.json").read_text())["n_params"] == 8 * 3 + 3
    assert main(["wm", "eval", "--run", str(run), "--episodes", "1", "--workers", "2"]) == 0
    scores = json.loads((run / "eval.json").read_text())
    assert np.isfinite(scores["controller_dream"]["mean"]) and np.isfinite(scores["controller_zonly"]["mean"])
    # --only re-scores one controller and keeps the others' scores taken with the same protocol
    only = ["--only", "controller_dream"]
    assert main(["wm", "eval", "--run", str(run), "--episodes", "1", "--workers", "2", *only]) == 0
    rescored = json.loads((run / "eval.json").read_text())
    assert rescored["controller"] == scores["controller"]  # kept, not re-run (its timing would differ)
    assert rescored["controller_dream"]["returns"] == scores["controller_dream"]["returns"]  # seeded: same score


def test_config_round_trip_and_errors(tmp_path):
    cfg = PipelineConfig.preset("small")
    cfg.to_json(tmp_path / "c.json")
    assert load_config(str(tmp_path / "c.json")) == cfg
    paper = PipelineConfig.preset("paper")
    assert (paper.controller.popsize, paper.controller.rollouts, paper.vae.z_dim, paper.rnn.hidden) == (64, 16, 32, 256)
    with pytest.raises(ValueError, match="unknown preset"):
        load_config("huge")
    (tmp_path / "bad.json").write_text(json.dumps({"vae": {"zdim": 3}}))
    with pytest.raises(ValueError, match=r"config.vae: unknown keys \['zdim'\]"):
        load_config(str(tmp_path / "bad.json"))


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="wm collect"):
        main(["wm", "train-vae", "--run", str(tmp_path / "empty"), "--config", "tiny"])
