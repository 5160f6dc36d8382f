"""GAIL training throughput: environment steps per second and the time split rollouts / discriminator / TRPO / value.

Either runs a short fresh GAIL job, or summarises the per-iteration metrics CSV of an existing run::

    python bench/imitation_throughput.py --env Hopper-v5 --demos demos/Hopper-v5.npz --iters 5 --out thr.json
    python bench/imitation_throughput.py --metrics bench_out/metrics/Hopper-v5_gail_4_0_0.0.csv --out thr.json

It also times raw environment stepping with random actions (no policy) as a reference ceiling.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

SPLIT = ("time/rollout_s", "time/disc_s", "time/trpo_s", "time/value_s")


def summarize_metrics(path: Path) -> dict:
    """Totals and shares of the iteration time spent in each phase, and steps per second, from a metrics CSV."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"metrics: {str(path)!r} has no rows")
    total = sum(float(r["time/iteration_s"]) for r in rows)
    per_iter = int(float(rows[0]["time/total_steps"])) // int(float(rows[0]["time/iteration"]))
    steps = per_iter * len(rows)
    out = {"iterations": len(rows), "env_steps": steps, "seconds": total, "env_steps_per_s": steps / total}
    for key in SPLIT:
        if key in rows[0]:
            out[key.split("/")[1][:-2] + "_share"] = sum(float(r[key]) for r in rows) / total
    out["rollout_env_steps_per_s"] = steps / sum(float(r["time/rollout_s"]) for r in rows)
    return out


def raw_env_steps_per_s(env_id: str, steps: int) -> float:
    """Steps per second of a single environment with random actions (no policy, no learning)."""
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    env.close()
    return steps / (time.perf_counter() - start)


def fresh_run(env_id: str, demos_path: Path, iters: int, steps_per_iter: int, num_envs: int) -> dict:
    """Time ``iters`` GAIL iterations from scratch and summarise their metrics."""
    import torch

    from dgmlab.imitation import GAIL, Demonstrations, GAILConfig, TRPOConfig
    from dgmlab.imitation.benchmark import default_subsample

    torch.set_num_threads(1)
    demos = Demonstrations.load(demos_path).take(4)
    demos = demos.subsample(default_subsample(env_id))
    cfg = GAILConfig(trpo=TRPOConfig(steps_per_iter=steps_per_iter, num_envs=num_envs))
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "m.csv"
        GAIL(env_id, demos, cfg).learn(iters * steps_per_iter, metrics=metrics, progress=False)
        return summarize_metrics(metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--demos", type=Path, help="demonstrations for a fresh run")
    parser.add_argument("--metrics", type=Path, help="summarise this run's metrics CSV instead of running")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--steps-per-iter", type=int, default=5000)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--raw-steps", type=int, default=20_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.metrics is None and args.demos is None:
        parser.error("give --demos (fresh run) or --metrics (existing run)")
    result = summarize_metrics(args.metrics) if args.metrics else fresh_run(
        args.env, args.demos, args.iters, args.steps_per_iter, args.num_envs)
    result.update({"env": args.env, "source": str(args.metrics or "fresh run"),
                   "raw_env_steps_per_s": raw_env_steps_per_s(args.env, args.raw_steps),
                   "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                               "load_avg_1m": os.getloadavg()[0]}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
