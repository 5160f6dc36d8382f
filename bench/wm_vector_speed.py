"""Agent frames per CPU-second: one rollout at a time (batch-1 torch calls) vs vectorised rollouts (``vector.py``).

    PYTHONPATH=python python bench/wm_vector_speed.py --run /work/artifacts/wm_small --k 16 --steps 200 \
        --out bench/results/wm_vector_speed.json

Both paths run the same k (controller, track) pairs in this process with one torch thread, timed by
``time.thread_time`` (CPU time of this thread, so other jobs on a shared machine matter little). Every episode runs
exactly ``--steps`` frames (checked: none leaves the playfield), so frames = k * steps. Also reports how close the
returns of the two paths are.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from dgmlab.world_models.controller import n_params
from dgmlab.world_models.rollout import AgentSpec, RolloutTask, agent_return, load_models
from dgmlab.world_models.vector import VectorTask, vector_returns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory with vae/ and rnn/")
    ap.add_argument("--k", type=int, default=16, help="rollouts (= vectorised batch)")
    ap.add_argument("--steps", type=int, default=200, help="frames per rollout")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    vae, rnn = load_models(str(Path(args.run).resolve()))
    spec = AgentSpec(str(Path(args.run).resolve()), True, args.steps, True)
    params = np.random.default_rng(0).normal(0, 0.1, (args.k, n_params(vae.z_dim, rnn.hidden)))
    params[:, -2] += 1.0  # some gas, so the cars move and episodes run to max_steps
    seeds = tuple(range(args.k))
    vector_returns(VectorTask(params[:2], seeds[:2], AgentSpec(spec.model_dir, True, 5, True)))  # warm up
    t0 = time.thread_time()
    sequential = np.array([agent_return(RolloutTask(p, s, spec)) for p, s in zip(params, seeds)])
    t_seq = time.thread_time() - t0
    t0 = time.thread_time()
    vectorised = vector_returns(VectorTask(params, seeds, spec))
    t_vec = time.thread_time() - t0
    if min(sequential.min(), vectorised.min()) < -50:  # -100: a car left the playfield and its episode ended early
        raise SystemExit("an episode ended before --steps frames, so the frame count would be wrong; use fewer steps")
    frames = args.k * args.steps
    result = {"k": args.k, "steps": args.steps, "frames": frames, "timer": "time.thread_time",
              "sequential_frames_per_cpu_s": frames / t_seq, "vectorised_frames_per_cpu_s": frames / t_vec,
              "speedup": t_seq / t_vec, "max_abs_return_diff": float(np.abs(sequential - vectorised).max()),
              "sequential_returns": sequential.tolist(), "vectorised_returns": vectorised.tolist(),
              "loadavg": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("returns")}, indent=2))


if __name__ == "__main__":
    main()
