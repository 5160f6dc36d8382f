"""The Figure 2.1 evaluation: {BC, FEM, GTAL, GAIL} x dataset sizes x seeds on a list of environments.

Every cell trains one policy on a random subset of the expert's trajectories (subsampled as in the thesis), scores
its true return, and appends a CSV row; cells already in the CSV are skipped, and TRPO-based cells checkpoint, so an
interrupted benchmark resumes. Scores are normalised with the expert's mean return over its whole dataset (1) and a
uniformly random policy's (0). ``jobs`` cells run in parallel processes::

    run_benchmark(BenchmarkConfig(envs=("CartPole-v1",), demos_dir="demos", out_dir="bench_out", jobs=2))
"""

from __future__ import annotations

import csv
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

ALGORITHMS = ("bc", "fem", "gtal", "gail")
CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
EARLY_SUCCESS_ENVS = ("Acrobot-v1", "MountainCar-v0")
"""Tasks whose expert ends episodes by succeeding: GAIL uses the reward log(1 - D) there (as the original code)."""
FIELDS = ("env", "algorithm", "trajectories", "seed", "entropy_coef", "steps", "return_mean", "return_std",
          "score", "seconds")


@dataclass
class BenchmarkConfig:
    """A benchmark grid. Defaults are the thesis' budget (500 iterations of 50,000 steps); shrink for small machines."""

    envs: tuple[str, ...] = CLASSIC
    """Gymnasium environment ids; ``demos_dir`` must hold ``<env>.npz`` for each."""
    algorithms: tuple[str, ...] = ALGORITHMS
    """Subset of ('bc', 'fem', 'gtal', 'gail')."""
    trajectories: tuple[int, ...] = (1, 4, 7, 10)
    """Dataset sizes (expert trajectories per training set)."""
    seeds: int = 3
    """Seeds per cell (seeds 0 .. seeds-1: network init, data subset, environment resets)."""
    steps: int = 25_000_000
    """Environment steps per FEM / GTAL / GAIL run (BC uses none)."""
    steps_per_iter: int = 50_000
    """State-action pairs per TRPO iteration."""
    entropy_coefs: tuple[float, ...] = (0.0,)
    """Causal entropy lambda values for GAIL (several values give the Figure 2.2 sweep)."""
    disc_entropy_coef: float = 0.001
    """GAIL discriminator entropy bonus (:class:`GAILConfig`)."""
    disc_steps: int = 0
    """GAIL discriminator Adam steps per iteration; 0 means :func:`default_disc_steps` (1 with the log(1 - D)
    reward, else 5)."""
    eval_episodes: int = 50
    """Episodes used to score each trained policy (and the random policy)."""
    subsample: int = 0
    """Keep every k-th pair of each trajectory; 0 means :func:`default_subsample` (the thesis' factors)."""
    jobs: int = 1
    """Cells run in parallel processes."""
    demos_dir: str = "demos"
    """Folder holding ``<env>.npz`` expert datasets."""
    out_dir: str = "benchmark"
    """Output folder: results.csv, reference.json, figure_2_1.png, checkpoints/, metrics/ (per-iteration CSVs)."""

    def validate(self) -> None:
        bad = sorted(set(self.algorithms) - set(ALGORITHMS))
        if bad:
            raise ValueError(f"algorithms: unknown {bad}; expected a subset of {ALGORITHMS}")
        if self.disc_steps < 0:
            raise ValueError(f"disc_steps: expected >= 1 (or 0 for the per-task default), got "
                             f"{self.disc_steps}")
        if self.seeds < 1 or self.jobs < 1 or min(self.trajectories, default=0) < 1:
            raise ValueError("seeds, jobs and trajectories: expected positive values")
        for env in self.envs:
            if not (Path(self.demos_dir) / f"{env}.npz").is_file():
                raise ValueError(f"demos_dir: missing {env}.npz in {self.demos_dir!r} (make it with "
                                 f"`dgmlab imitation demos`)")


CLASSIC_SUBSAMPLE = {"CartPole-v1": 10, "Acrobot-v1": 5, "MountainCar-v0": 5}
"""Every k-th pair kept on classic control, as in the thesis' experiment pipeline (its ``data_subsamp_freq``)."""


def default_subsample(env_id: str) -> int:
    """20 on MuJoCo tasks (about 50 pairs per 1000-step trajectory), 10 on CartPole, 5 on Acrobot and MountainCar
    (as in the thesis' pipeline), 1 elsewhere."""
    import gymnasium as gym  # the [rl] extra; imported here so that the CLI loads without it

    if env_id in CLASSIC_SUBSAMPLE:
        return CLASSIC_SUBSAMPLE[env_id]
    return 20 if "mujoco" in str(gym.spec(env_id).entry_point) else 1


def default_reward_form(env_id: str) -> str:
    return "log_one_minus_d" if env_id in EARLY_SUCCESS_ENVS else "neg_log_d"


def default_disc_steps(reward_form: str) -> int:
    """GAIL discriminator steps per iteration: 1 (the thesis' setting) with the log(1 - D) reward (Acrobot,
    MountainCar), 5 with -log D. Measured at 150,000 steps (README): with 1 step CartPole's return
    oscillated (0.76-0.94 at 4-10 trajectories, 1.00 with 5); with 5 steps MountainCar scored lower (by 0.025
    on average over 4 cells)."""
    return 1 if reward_form == "log_one_minus_d" else 5


def cells(cfg: BenchmarkConfig) -> list[dict[str, Any]]:
    """Every (env, algorithm, trajectories, seed, entropy_coef) combination; lambda varies for GAIL only."""
    out = []
    for env in cfg.envs:
        for algo in cfg.algorithms:
            for coef in cfg.entropy_coefs if algo == "gail" else cfg.entropy_coefs[:1]:
                for n in cfg.trajectories:
                    for seed in range(cfg.seeds):
                        out.append({"env": env, "algorithm": algo, "trajectories": n, "seed": seed,
                                    "entropy_coef": float(coef)})
    return out


def _key(row: dict[str, Any]) -> tuple:
    return (row["env"], row["algorithm"], int(row["trajectories"]), int(row["seed"]), float(row["entropy_coef"]))


def build_model(cfg: BenchmarkConfig, cell: dict[str, Any], demos: Any) -> Any:
    """The untrained model for one cell (same network for every algorithm, as in the thesis)."""
    from dgmlab.imitation.apprenticeship import Apprenticeship, ApprenticeshipConfig
    from dgmlab.imitation.bc import BC, BCConfig
    from dgmlab.imitation.gail import GAIL, GAILConfig
    from dgmlab.imitation.onpolicy import TRPOConfig
    from dgmlab.imitation.trpo import TRPOStepConfig

    env, algo, seed = cell["env"], cell["algorithm"], cell["seed"]
    if algo == "bc":
        return BC(env, demos, BCConfig(seed=seed))
    trpo = TRPOConfig(steps_per_iter=cfg.steps_per_iter, num_envs=1, seed=seed,
                      step=TRPOStepConfig(entropy_coef=cell["entropy_coef"]))
    if algo == "gail":
        form = default_reward_form(env)
        return GAIL(env, demos, GAILConfig(trpo=trpo, reward_form=form, disc_steps=cfg.disc_steps or
                                           default_disc_steps(form), disc_entropy_coef=cfg.disc_entropy_coef))
    return Apprenticeship(env, demos, ApprenticeshipConfig(trpo=trpo, cost_class="linear" if algo == "fem" else
                                                           "convex"))


def run_cell(cfg: BenchmarkConfig, cell: dict[str, Any], reference: dict[str, float]) -> dict[str, Any]:
    """Train and score one cell; returns its CSV row."""
    import torch

    from dgmlab.imitation.demos import Demonstrations
    from dgmlab.imitation.evaluation import normalized_score, policy_returns

    torch.set_num_threads(1)
    env, seed = cell["env"], cell["seed"]
    every = cfg.subsample or default_subsample(env)
    demos = Demonstrations.load(Path(cfg.demos_dir) / f"{env}.npz").take(cell["trajectories"], seed=seed)
    demos = demos.subsample(every, seed=seed)
    start = time.perf_counter()
    model = build_model(cfg, cell, demos)
    if cell["algorithm"] == "bc":
        model.learn()
    else:
        name = "_".join(str(v) for v in cell.values())
        ckpt = Path(cfg.out_dir) / "checkpoints" / f"{name}.zip"
        if ckpt.is_file():
            model = type(model).load(ckpt, demos=demos)
        model.learn(cfg.steps, checkpoint=ckpt, checkpoint_every=5, progress=False,
                    metrics=Path(cfg.out_dir) / "metrics" / f"{name}.csv")
    returns = policy_returns(model.predict, env, cfg.eval_episodes)
    return {**cell, "steps": getattr(model, "num_timesteps", 0), "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "score": float(normalized_score(returns.mean(), reference["expert"], reference["random"])),
            "seconds": time.perf_counter() - start}


def references(cfg: BenchmarkConfig) -> dict[str, dict[str, float]]:
    """Expert (mean return over its dataset) and random-policy returns per environment, cached in reference.json."""
    from dgmlab.imitation.demos import Demonstrations
    from dgmlab.imitation.evaluation import random_returns

    path = Path(cfg.out_dir) / "reference.json"
    ref = json.loads(path.read_text()) if path.is_file() else {}
    for env in cfg.envs:
        if env not in ref:
            demos = Demonstrations.load(Path(cfg.demos_dir) / f"{env}.npz")
            ref[env] = {"expert": float(demos.episode_returns.mean()),
                        "random": float(random_returns(env, cfg.eval_episodes).mean())}
    path.write_text(json.dumps(ref, indent=2))
    return ref


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a results CSV with numeric fields parsed."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k in ("trajectories", "seed", "steps"):
            row[k] = int(row[k])
        for k in ("entropy_coef", "return_mean", "return_std", "score", "seconds"):
            row[k] = float(row[k])
    return rows


def _append(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in FIELDS})


def run_benchmark(cfg: BenchmarkConfig, progress: bool = True) -> list[dict[str, Any]]:
    """Run the missing cells of the grid, append them to ``results.csv``, and draw the figures."""
    from tqdm.auto import tqdm

    from dgmlab.imitation.plots import plot_figure_2_1, plot_lambda_sweep

    cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    csv_path = out / "results.csv"
    done = {_key(r) for r in read_rows(csv_path)}
    todo = [c for c in cells(cfg) if _key(c) not in done]
    ref = references(cfg)
    bar = tqdm(total=len(todo), disable=not progress, desc="benchmark cells")
    if cfg.jobs == 1:
        for cell in todo:
            _append(csv_path, run_cell(cfg, cell, ref[cell["env"]]))
            bar.update()
    else:
        with ProcessPoolExecutor(cfg.jobs, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_cell, cfg, cell, ref[cell["env"]]) for cell in todo]
            for fut in as_completed(futures):
                _append(csv_path, fut.result())
                bar.update()
    bar.close()
    rows = read_rows(csv_path)
    plot_figure_2_1(rows, out / "figure_2_1.png")
    if len(cfg.entropy_coefs) > 1:
        plot_lambda_sweep(rows, out / "figure_2_2.png")
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[tuple, tuple[float, float, int]]:
    """(env, algorithm, trajectories, entropy_coef) -> (mean score, std over seeds, number of seeds)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["env"], r["algorithm"], r["trajectories"], r["entropy_coef"]), []).append(r["score"])
    return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in sorted(groups.items())}
