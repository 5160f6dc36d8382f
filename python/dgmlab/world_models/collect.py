"""``dgmlab wm collect``: record episodes in parallel into the chunked format of ``storage``; resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dgmlab.world_models.config import CollectConfig
from dgmlab.world_models.executors import Executor
from dgmlab.world_models.rollout import AgentSpec, CollectTask, collect_episode
from dgmlab.world_models.storage import episode_path


def collect(out_dir: str | Path, cfg: CollectConfig, executor: Executor, timeout_s: float = 600.0,
            params: np.ndarray | None = None, spec: AgentSpec | None = None) -> dict:
    """Record ``cfg.episodes`` episodes (skipping ones already on disk); returns a summary written to ``collect.json``.

    ``cfg.policy == "controller"`` records a trained agent (the iterative procedure) and needs ``params`` + ``spec``.
    """
    if cfg.policy not in ("white", "brownian", "controller"):
        raise ValueError(f"collect: unknown policy {cfg.policy!r}; expected white, brownian or controller")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [CollectTask(i, cfg.seed + i, str(out), cfg.policy, cfg.max_steps, cfg.fast_env, params, spec)
             for i in range(cfg.episodes) if not episode_path(out, i).is_file()]
    done = executor.map(collect_episode, tasks, timeout_s=timeout_s) if tasks else []
    summary = {"episodes": cfg.episodes, "recorded_now": len(done), "frames_now": int(sum(d[1] for d in done)),
               "mean_return_now": float(np.mean([d[2] for d in done])) if done else None,
               "config": cfg.__dict__, "failures": list(executor.events)}
    (out / "collect.json").write_text(json.dumps(summary, indent=2))
    return summary
