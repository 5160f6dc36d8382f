"""``dgmlab wm run``: collect -> VAE -> latents -> MDN-RNN -> controller (-> z-only) -> eval, resumable per stage.

Run directory layout::

    config.json            the PipelineConfig of the run
    data/ep_*.npz          episodes (storage format)       vae/     vae.pt, vae.json, vae_metrics.csv
    latents/ep_*.npz       (mu, log var) per frame         rnn/     rnn.pt, rnn.json, rnn_metrics.csv, initial_z.npy
    controller/            CMA-ES checkpoint and metrics   controller_zonly/  the z-only comparison
    controller_dream/      a controller trained in the dream (``train-controller --dream``), scored in CarRacing
    eval.json              final scores                    figures/ PNGs and agent.gif
    stages.json            finished stages (a re-run skips them; unfinished ones resume from their checkpoints)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from dgmlab.world_models.cmaes import CMAESSettings, load_best, train_cmaes
from dgmlab.world_models.config import PipelineConfig
from dgmlab.world_models.controller import n_params
from dgmlab.world_models.executors import Executor
from dgmlab.world_models.rollout import AgentSpec
from dgmlab.world_models.vector import map_rollouts

STAGES = ("collect", "vae", "latents", "rnn", "controller", "controller_zonly", "eval")


def agent_spec(run: Path, cfg: PipelineConfig, use_hidden: bool = True, max_steps: int | None = None,
               patience: int = 0) -> AgentSpec:
    return AgentSpec(str(run.resolve()), use_hidden, max_steps or cfg.controller.max_steps, cfg.collect.fast_env,
                     patience=patience)


def train_controller(run: Path, cfg: PipelineConfig, executor: Executor, use_hidden: bool = True,
                     generations: int | None = None) -> np.ndarray:
    """CMA-ES on the controller; candidates of a generation share its tracks (common random numbers)."""
    from dgmlab.world_models.dream import DreamTask, dream_return
    from dgmlab.world_models.mdn_rnn import load_rnn

    c = cfg.controller
    rnn = load_rnn(run / "rnn" / "rnn.pt")
    spec = agent_spec(run, cfg, use_hidden, patience=c.patience)
    settings = CMAESSettings(n_params(rnn.z_dim, rnn.hidden, use_hidden), c.popsize, c.sigma0, c.weight_decay,
                             generations or c.generations, c.eval_every, c.seed)
    full_spec = agent_spec(run, cfg, use_hidden)  # re-evaluations run whole episodes

    def evaluate(solutions: np.ndarray, gen: int) -> np.ndarray:
        seeds = [10_000 + gen * c.rollouts + j for j in range(c.rollouts)]
        if c.dream:
            tasks = [DreamTask(p, s, spec, cfg.rnn.temperature) for p in solutions for s in seeds]
            out = executor.map(dream_return, tasks, timeout_s=c.timeout_s, retries=c.retries)
        else:
            out = map_rollouts(executor, np.repeat(solutions, c.rollouts, axis=0), seeds * len(solutions), spec,
                               c.batch_envs, c.timeout_s, c.retries)
        return np.asarray(out).reshape(len(solutions), c.rollouts)

    def reevaluate(params: np.ndarray, gen: int) -> np.ndarray:
        seeds = [500_000 + gen * 1000 + j for j in range(c.eval_rollouts)]
        return map_rollouts(executor, [params] * len(seeds), seeds, full_spec, c.batch_envs, c.timeout_s, c.retries)

    return train_cmaes(run / controller_dir(use_hidden, c.dream), settings, evaluate, reevaluate)


def controller_dir(use_hidden: bool, dream: bool = False) -> str:
    """``controller``, ``controller_zonly`` or ``controller_dream`` (trained inside the MDN-RNN)."""
    return "controller_dream" if dream else ("controller" if use_hidden else "controller_zonly")


def run_data_stage(run: Path, cfg: PipelineConfig, executor: Executor | None, stage: str) -> None:
    """One of ``collect`` (needs an executor), ``vae``, ``latents``, ``rnn``."""
    from dgmlab.world_models.collect import collect
    from dgmlab.world_models.mdn_rnn import load_latents, train_rnn
    from dgmlab.world_models.vae import export_latents, train_vae

    if stage == "collect":
        collect(run / "data", cfg.collect, executor, timeout_s=cfg.controller.timeout_s)
    elif stage == "vae":
        train_vae(run / "data", run / "vae", cfg.vae)
    elif stage == "latents":
        export_latents(run / "vae" / "vae.pt", run / "data", run / "latents")
    elif stage == "rnn":
        train_rnn(run / "latents", run / "rnn", cfg.rnn)
        first = np.stack([ep["mu"][0] for ep in load_latents(run / "latents")])
        np.save(run / "rnn" / "initial_z.npy", first.astype(np.float32))


CONTROLLERS = (("controller", True), ("controller_zonly", False), ("controller_dream", True))


def evaluate_run(run: Path, cfg: PipelineConfig, executor: Executor, only: tuple[str, ...] | None = None) -> dict:
    """Scores over ``cfg.eval.episodes`` tracks for each trained controller, the dream-vs-real check, figures.

    ``only`` re-scores just those controller directories and keeps the other scores in ``eval.json`` (read when
    writing, so evaluations of different controllers can run side by side) if they were taken with the same
    protocol (episodes, frames, first seed). Each score is also written to ``RUN/<controller>/eval.json``.
    """
    from dgmlab.world_models.evaluate import evaluate, make_gif, plot_curves, plot_rnn, plot_vae
    from dgmlab.world_models.mdn_rnn import load_rnn
    from dgmlab.world_models.storage import list_episodes, load_episode
    from dgmlab.world_models.vae import load_vae

    figures = run / "figures"
    figures.mkdir(exist_ok=True)
    vae, rnn = load_vae(run / "vae" / "vae.pt"), load_rnn(run / "rnn" / "rnn.pt")
    episode = load_episode(list_episodes(run / "data")[-1])
    plot_vae(vae, episode["obs"][:: max(1, len(episode["obs"]) // 8)], figures / "vae.png")
    plot_rnn(vae, rnn, episode, figures / "rnn.png", start=min(40, len(episode["obs"]) // 2),
             n=min(8, len(episode["obs"]) // 2 - 1), temperature=cfg.rnn.temperature)
    plot_curves(run, figures / "curves.png")
    names = [name for name, _ in CONTROLLERS]
    if only is not None and not set(only) <= set(names):
        raise ValueError(f"eval: unknown controllers {sorted(set(only) - set(names))}; expected some of {names}")
    result: dict = {"episodes": cfg.eval.episodes, "max_steps": cfg.eval.max_steps, "first_seed": cfg.eval.seed}
    for sub, use_hidden in CONTROLLERS:
        if not (run / sub / "cmaes_history.npz").is_file() or (only is not None and sub not in only):
            continue
        params, spec = load_best(run / sub), agent_spec(run, cfg, use_hidden, cfg.eval.max_steps)
        t0 = time.monotonic()
        r = evaluate(params, spec, executor, cfg.eval, batch=cfg.controller.batch_envs)
        result[sub] = {"mean": float(r.mean()), "std": float(r.std()), "returns": r.tolist(),
                       "seconds": time.monotonic() - t0}
        protocol = {k: result[k] for k in ("episodes", "max_steps", "first_seed")}
        (run / sub / "eval.json").write_text(json.dumps({**protocol, sub: result[sub]}, indent=2))
    if "controller" in result and (only is None or "controller" in only):
        result["dream_vs_real"] = dream_vs_real(run, cfg, executor)
        spec = agent_spec(run, cfg, True, cfg.eval.max_steps)
        result["gif_return"] = make_gif(load_best(run / "controller"), spec, cfg.eval.seed, figures / "agent.gif")
        result["gif_seed"] = cfg.eval.seed
    if only is not None and (run / "eval.json").is_file():  # another eval may have finished meanwhile: keep its scores
        latest = json.loads((run / "eval.json").read_text())
        if all(latest.get(k) == result[k] for k in ("episodes", "max_steps", "first_seed")):
            fresh = set(only) | ({"dream_vs_real", "gif_return", "gif_seed"} if "controller" in only else set())
            result = {**latest, **{k: v for k, v in result.items() if k in fresh}}
    (run / "eval.json").write_text(json.dumps(result, indent=2))
    return result


def dream_vs_real(run: Path, cfg: PipelineConfig, executor: Executor, episodes: int = 8) -> dict:
    """Mean return of the trained controller in the dream (tau) and in CarRacing on the same number of episodes."""
    from dgmlab.world_models.dream import DreamTask, dream_return

    params, spec = load_best(run / "controller"), agent_spec(run, cfg, True)
    seeds = [cfg.eval.seed + 50_000 + i for i in range(episodes)]
    dream = executor.map(dream_return, [DreamTask(params, s, spec, cfg.rnn.temperature) for s in seeds])
    real = map_rollouts(executor, [params] * len(seeds), seeds, spec, cfg.controller.batch_envs)
    return {"temperature": cfg.rnn.temperature, "max_steps": spec.max_steps, "dream_mean": float(np.mean(dream)),
            "dream_std": float(np.std(dream)), "real_mean": float(np.mean(real)), "real_std": float(np.std(real))}


def run_pipeline(run_dir: str | Path, cfg: PipelineConfig, executor: Executor, until: str = "eval") -> dict:
    """Run every stage up to ``until``; finished stages (``stages.json``) are skipped on a re-run."""
    if until not in STAGES:
        raise ValueError(f"until: unknown stage {until!r}; expected one of {STAGES}")
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    cfg.to_json(run / "config.json")
    done_file = run / "stages.json"
    done = json.loads(done_file.read_text()) if done_file.is_file() else {}
    for stage in STAGES[: STAGES.index(until) + 1]:
        if stage in done:
            continue
        t0 = time.monotonic()
        if stage == "controller":
            train_controller(run, cfg, executor)
        elif stage == "controller_zonly":
            if cfg.zonly_generations:
                train_controller(run, cfg, executor, use_hidden=False, generations=cfg.zonly_generations)
        elif stage == "eval":
            evaluate_run(run, cfg, executor)
        else:
            run_data_stage(run, cfg, executor, stage)
        done[stage] = {"seconds": round(time.monotonic() - t0, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                             time.gmtime())}
        done_file.write_text(json.dumps(done, indent=2))
    return done
