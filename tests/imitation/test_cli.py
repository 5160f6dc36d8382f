"""Smoke-run every ``dgmlab imitation`` command with a tiny budget."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dgmlab.cli import main


def _rows(path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _last_json(capsys: pytest.CaptureFixture) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_end_to_end(tmp_path, demos_file: str, capsys: pytest.CaptureFixture) -> None:
    tiny = ["--steps", "600", "--steps-per-iter", "300", "--num-envs", "1", "--sync"]
    expert = tmp_path / "expert.zip"
    assert main(["imitation", "expert", "--env", "CartPole-v1", *tiny, "--out", str(expert)]) == 0
    assert _last_json(capsys)["steps"] == 600
    assert main(["imitation", "expert", "--env", "CartPole-v1", *tiny[:1], "900", *tiny[2:], "--out",
                 str(expert)]) == 0  # resumes from the checkpoint
    assert _last_json(capsys)["iterations"] == 3
    assert len((tmp_path / "expert.csv").read_text().splitlines()) == 4
    assert main(["imitation", "demos", "--expert", str(expert), "--n", "2", "--out", str(tmp_path / "d.npz")]) == 0
    assert _last_json(capsys)["trajectories"] == 2
    if importlib.util.find_spec("h5py") is not None:  # Minari-style folder in, trained model out
        minari = tmp_path / "cartpole-expert-v0"
        assert main(["imitation", "demos", "--expert", str(expert), "--n", "2", "--format", "minari",
                     "--out", str(minari)]) == 0
        assert main(["imitation", "train", "--algo", "bc", "--env", "CartPole-v1", "--demos", str(minari),
                     "--out", str(tmp_path / "bc_minari.zip")]) == 0
    for algo in ("gail", "bc", "fem", "gtal"):
        out = tmp_path / f"{algo}.zip"
        assert main(["imitation", "train", "--algo", algo, "--env", "CartPole-v1", "--demos", demos_file,
                     "--trajectories", "2", *tiny, "--out", str(out)]) == 0
        assert main(["imitation", "evaluate", "--model", str(out), "--episodes", "2"]) == 0
        assert _last_json(capsys)["env"] == "CartPole-v1"


def test_cli_benchmark(tmp_path, demos_file: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    args = ["imitation", "benchmark", "--envs", "CartPole-v1", "--algos", "bc", "gail", "--trajectories", "1", "2",
            "--seeds", "1", "--steps", "300", "--steps-per-iter", "300", "--eval-episodes", "2", "--disc-steps", "2",
            "--demos-dir", str(tmp_path.parent / demos_file.split("/")[-2]), "--out-dir", str(out)]
    assert main(args) == 0
    rows = _rows(out / "results.csv")
    assert {(r["algorithm"], r["trajectories"]) for r in rows} == {("bc", "1"), ("bc", "2"), ("gail", "1"),
                                                                  ("gail", "2")}
    assert (out / "figure_2_1.png").stat().st_size > 1000
    assert json.loads((out / "reference.json").read_text())["CartPole-v1"]["expert"] == 500.0
    assert main(args) == 0  # resumes: nothing left to run
    assert len(_rows(out / "results.csv")) == 4
    assert "score=" in capsys.readouterr().out
    _bench_scripts(out, tmp_path)


def _bench_scripts(out: Path, tmp_path: Path) -> None:
    """The README's result scripts run on a benchmark folder (table) and a run's metrics CSV (throughput)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "python")}
    table = subprocess.run([sys.executable, str(root / "bench" / "imitation_table.py"), str(out), "--json",
                            str(tmp_path / "t.json")], capture_output=True, text=True, env=env, check=True)
    assert "| GAIL |" in table.stdout and "| BC |" in table.stdout
    assert len(json.loads((tmp_path / "t.json").read_text())["summary"]) == 4
    only_gail = subprocess.run([sys.executable, str(root / "bench" / "imitation_table.py"), f"{out}:gail",
                                "--figure", str(tmp_path / "f.png")], capture_output=True, text=True, env=env,
                               check=True)
    assert "| GAIL |" in only_gail.stdout and "| BC |" not in only_gail.stdout
    assert (tmp_path / "f.png").stat().st_size > 1000
    other = tmp_path / "other"  # GAIL rows of a second folder: their own table row, never pooled, no figure
    other.mkdir()
    for name in ("results.csv", "reference.json"):
        shutil.copy(out / name, other / name)
    both = subprocess.run([sys.executable, str(root / "bench" / "imitation_table.py"), str(out), f"{other}:gail",
                           "--envs", "CartPole-v1", "--figure", str(tmp_path / "f2.png")], capture_output=True,
                          text=True, env=env, check=False)
    assert f"| GAIL ({out}) |" in both.stdout and f"| GAIL ({other}) |" in both.stdout and "| BC |" in both.stdout
    assert both.returncode != 0 and "more than one folder" in both.stderr and not (tmp_path / "f2.png").exists()
    metrics = min((out / "metrics").glob("*gail*.csv"))
    subprocess.run([sys.executable, str(root / "bench" / "imitation_throughput.py"), "--env", "CartPole-v1",
                    "--metrics", str(metrics), "--raw-steps", "200", "--out", str(tmp_path / "thr.json")],
                   capture_output=True, text=True, env=env, check=True)
    result = json.loads((tmp_path / "thr.json").read_text())
    assert result["env_steps_per_s"] > 0 and 0 < result["rollout_share"] < 1


def test_cli_errors_are_clear(tmp_path) -> None:
    with pytest.raises(ValueError, match="no demonstrations file"):
        main(["imitation", "train", "--env", "CartPole-v1", "--demos", str(tmp_path / "x.npz"), "--out",
              str(tmp_path / "m.zip")])
    with pytest.raises(ValueError, match="demos_dir: missing"):
        main(["imitation", "benchmark", "--envs", "CartPole-v1", "--demos-dir", str(tmp_path), "--out-dir",
              str(tmp_path / "b")])
    with pytest.raises(ValueError, match="disc_steps: expected >= 1"):
        main(["imitation", "benchmark", "--envs", "CartPole-v1", "--disc-steps", "-1", "--demos-dir",
              str(tmp_path), "--out-dir", str(tmp_path / "b")])


def test_disc_steps_default_follows_the_reward_form() -> None:
    from dgmlab.imitation.benchmark import BenchmarkConfig, build_model, default_disc_steps

    assert default_disc_steps("neg_log_d") == 5 and default_disc_steps("log_one_minus_d") == 1
    cell = {"env": "MountainCar-v0", "algorithm": "gail", "trajectories": 1, "seed": 0, "entropy_coef": 0.0}
    assert build_model(BenchmarkConfig(), cell, None).config.disc_steps == 1
    assert build_model(BenchmarkConfig(disc_steps=3), cell, None).config.disc_steps == 3
    assert build_model(BenchmarkConfig(), {**cell, "env": "CartPole-v1"}, None).config.disc_steps == 5
