"""World Models environment and rollout throughput, the fast renderer's pixel check, and a `paper` projection.

    PYTHONPATH=python python bench/wm_env_speed.py --out bench/results/wm_env_speed.json

Measures (1) cProfile of CarRacing-v3 steps on Gymnasium's renderer and on the fast one, (2) frames/s of the bare
environment in one process for both, (3) pixel equality of raw 96x96 frames and 64x64 observations over
``--verify-seeds`` tracks x 3 policies, (4) frames/s of full agent rollouts (env + VAE + LSTM + controller) in this
process, in one worker, over all local cores (LocalExecutor) and on local Ray, and (5) the projected wall time of one
`paper` generation (64 x 16 rollouts x 1000 frames) from the agent's frames per CPU-second. Wall-clock rates depend
on what else the machine runs (the load average is recorded); rates per CPU-second do not, much.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

from dgmlab.world_models.config import PipelineConfig
from dgmlab.world_models.controller import n_params
from dgmlab.world_models.env import make_car_racing
from dgmlab.world_models.executors import LocalExecutor, RayExecutor
from dgmlab.world_models.rollout import AgentSpec, RolloutTask, agent_return, random_policy


def env_fps(fast: bool, steps: int, seed: int = 0) -> dict:
    """Bare-environment frames/s in this process: wall clock and per CPU-second (robust to a shared machine)."""
    env = make_car_racing(fast)
    env.reset(seed=seed)
    policy = random_policy("white", np.random.default_rng(seed))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        env.step(policy(None))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    env.close()
    return {"wall": steps / wall, "cpu": steps / cpu}


def env_profile(fast: bool, steps: int) -> str:
    prof, text = cProfile.Profile(), io.StringIO()
    prof.runcall(env_fps, fast, steps)
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(10)
    return text.getvalue()


def agent_cpu_fps(root: Path, steps: int) -> dict:
    """Full agent frames/s in this process (1 torch thread), wall and per CPU-second."""
    import torch

    torch.set_num_threads(1)
    params = np.random.default_rng(0).normal(0, 0.1, n_params(32, 256))
    agent_return(RolloutTask(params, 0, AgentSpec(str(root), True, 5, True)))
    t0, c0 = time.perf_counter(), time.process_time()
    agent_return(RolloutTask(params, 1, AgentSpec(str(root), True, steps, True)))
    return {"wall": steps / (time.perf_counter() - t0), "cpu": steps / (time.process_time() - c0)}


def verify(seeds: int, steps: int) -> dict:
    """Raw frames and processed observations of both renderers on identical action sequences."""
    from dgmlab.data.car_racing import process_frame

    frames = mismatched_raw = mismatched_obs = 0
    for seed in range(seeds):
        for kind in ("white", "brownian", "gas"):
            envs = [make_car_racing(False), make_car_racing(True)]
            obs = [e.reset(seed=seed)[0] for e in envs]
            rng = np.random.default_rng(seed)
            policy = (lambda o: np.array([0.0, 0.6, 0.0])) if kind == "gas" else random_policy(kind, rng)
            for _ in range(steps):
                mismatched_raw += int(not np.array_equal(obs[0], obs[1]))
                mismatched_obs += int(not np.array_equal(process_frame(obs[0]), process_frame(obs[1])))
                frames += 1
                a = policy(None)
                obs = [e.step(a)[0] for e in envs]
            for e in envs:
                e.close()
    return {"tracks": seeds, "policies": ["white", "brownian", "gas"], "frames": frames,
            "raw_frames_differing": mismatched_raw, "observations_differing": mismatched_obs}


def make_models(root: Path) -> None:
    """Untrained VAE + MDN-RNN of the paper's sizes (rollout cost does not depend on the weights)."""
    import torch

    from dgmlab.world_models.config import RNNConfig, VAEConfig
    from dgmlab.world_models.mdn_rnn import MDNRNN, save_rnn
    from dgmlab.world_models.vae import ConvVAE, save_vae

    torch.manual_seed(0)
    (root / "rnn").mkdir(parents=True)
    save_vae(ConvVAE(32), root / "vae" / "vae.pt", VAEConfig())
    save_rnn(MDNRNN(32, 256, 5), root / "rnn" / "rnn.pt", RNNConfig())


def rollout_fps(executor, root: Path, rollouts: int, steps: int) -> float:
    spec = AgentSpec(str(root), True, steps, True)
    params = np.random.default_rng(0).normal(0, 0.1, n_params(32, 256))
    executor.map(agent_return, [RolloutTask(params, 0, AgentSpec(str(root), True, 5, True))] * executor.workers)
    t0 = time.perf_counter()
    executor.map(agent_return, [RolloutTask(params, s, spec) for s in range(rollouts)])
    return rollouts * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="frames per speed measurement")
    ap.add_argument("--verify-seeds", type=int, default=20)
    ap.add_argument("--verify-steps", type=int, default=300)
    ap.add_argument("--rollouts", type=int, default=8, help="agent rollouts per parallel measurement")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--part", choices=("all", "verify", "speed"), default="all",
                    help="only the pixel check, only the timings, or both")
    ap.add_argument("--out", type=Path, default=Path("bench/results/wm_env_speed.json"))
    args = ap.parse_args()
    res: dict = {"cpu_count": os.cpu_count(), "steps": args.steps, "load_average_1min_start": os.getloadavg()[0]}
    if args.part != "speed":
        res["verify"] = verify(args.verify_seeds, args.verify_steps)
    if args.part != "verify":
        res.update(speed(args))
    res["load_average_1min_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if not k.startswith("profile")}, indent=2))


def speed(args: argparse.Namespace) -> dict:
    res: dict = {}
    for fast, name in ((False, "gymnasium"), (True, "fast")):
        res[f"profile_{name}"] = env_profile(fast, args.steps)
        res[f"env_fps_{name}"] = env_fps(fast, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        make_models(Path(tmp))
        res["agent_fps_in_process"] = agent_cpu_fps(Path(tmp), args.steps)
        for name, ex in (("one_worker", LocalExecutor(1)), ("all_cores_local", LocalExecutor(0))):
            res[f"agent_fps_{name}"] = rollout_fps(ex, Path(tmp), args.rollouts, args.steps)
            ex.close()
        if not args.no_ray:
            res["agent_fps_local_ray"] = rollout_fps(RayExecutor(None, 0), Path(tmp), args.rollouts, args.steps)
    paper = PipelineConfig.preset("paper").controller
    frames = paper.popsize * paper.rollouts * paper.max_steps
    per_core = res["agent_fps_in_process"]["cpu"]  # one worker with a core to itself
    res["paper_generation"] = {"frames": frames, "seconds_one_core": frames / per_core,
                               "seconds_64_workers": frames / per_core / 64,
                               "basis": "agent frames per CPU-second in one process; assumes a free core per worker"}
    return res


if __name__ == "__main__":
    main()
