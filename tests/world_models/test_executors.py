"""Executors (timeouts, crashes, retries) and CMA-ES through them, including kill-and-resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from dgmlab.world_models.cmaes import CMAESSettings, train_cmaes
from dgmlab.world_models.executors import LocalExecutor, RolloutError


def sphere(x: np.ndarray, attempt: int) -> float:
    return -float(np.sum((x - 1.0) ** 2))


def hang_first(task: int, attempt: int) -> tuple[int, int]:
    if attempt == 0 and task % 2 == 0:
        time.sleep(120)
    return task, attempt


def crash_first(task: int, attempt: int) -> tuple[int, int]:
    if attempt == 0 and task == 1:
        os._exit(3)
    return task, attempt


def always_fails(task: int, attempt: int) -> None:
    raise RuntimeError(f"bad task {task}")


@pytest.fixture(scope="module")
def executor():
    ex = LocalExecutor(2, start_method="fork")
    yield ex
    ex.close()


def test_hanging_rollout_is_timed_out_and_retried(executor):
    t0 = time.monotonic()
    out = executor.map(hang_first, list(range(4)), timeout_s=1.0, retries=1)
    assert out == [(0, 1), (1, 0), (2, 1), (3, 0)]
    assert time.monotonic() - t0 < 30
    assert [e["kind"] for e in executor.events[-2:]] == ["timeout", "timeout"]


def test_crashed_worker_is_replaced(executor):
    assert executor.map(crash_first, [0, 1, 2], timeout_s=30) == [(0, 0), (1, 1), (2, 0)]
    assert executor.events[-1]["kind"].startswith("crash")
    assert executor.map(sphere, [np.ones(3)]) == [0.0]  # the pool still works


def test_persistent_failure_raises(executor):
    with pytest.raises(RolloutError, match="task 0 failed 2 times"):
        executor.map(always_fails, [0], retries=1)


def test_cmaes_improves_toy_fitness_through_executor(executor, tmp_path):
    s = CMAESSettings(n_params=6, popsize=8, sigma0=0.5, weight_decay=0.0, generations=25, eval_every=0)
    best = train_cmaes(tmp_path, s, lambda xs, g: np.asarray(executor.map(sphere, list(xs)))[:, None])
    assert np.sum((best - 1) ** 2) < 0.1 * 6  # started at 0: distance^2 = 6


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from dgmlab.world_models.cmaes import CMAESSettings, train_cmaes
    def evaluate(xs, gen):
        time.sleep(float(sys.argv[2]))
        return -np.sum((xs - 0.5) ** 2, axis=1, keepdims=True)
    train_cmaes(sys.argv[1], CMAESSettings(n_params=5, popsize=6, sigma0=0.3, generations=8, eval_every=0), evaluate)
""")


def test_kill_and_resume_continues_from_last_generation(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "0.5"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "killed" / "cmaes_state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (state.is_file() and '"generations_done": 3' in state.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.is_file(), "training never wrote a checkpoint"
    killed_at = int(__import__("json").loads(state.read_text())["generations_done"])
    assert 3 <= killed_at < 8
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "0"], env=env, check=True)
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight"), "0"], env=env, check=True)
    a, b = (np.load(tmp_path / d / "cmaes_history.npz") for d in ("killed", "straight"))
    assert a["objective"].shape == (8, 6)
    np.testing.assert_array_equal(a["objective"], b["objective"])  # resumed run = uninterrupted run
    np.testing.assert_array_equal(a["digest"], b["digest"])
    rows = (tmp_path / "killed" / "cmaes_metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(8))
