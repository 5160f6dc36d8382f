"""``dgmlab wm ...``: the World Models commands. Every command works on a run directory (see ``pipeline``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, type=Path, help="run directory (created if missing)")
    p.add_argument("--config", default=None,
                   help="preset (paper, small, tiny) or JSON; default: RUN/config.json, else 'small'")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="rollout executor")
    p.add_argument("--workers", type=int, default=0, help="rollout processes / local Ray CPUs (0: all cores)")
    p.add_argument("--ray-address", default=None, help="join a Ray cluster (implies --executor ray)")


def _command(wm: argparse._SubParsersAction, name: str, text: str, func, *options: tuple[str, dict]) -> None:
    """One ``dgmlab wm NAME`` subcommand: the common run/executor options plus ``options`` (flag, add_argument kw)."""
    p = wm.add_parser(name, help=text)
    _common(p)
    for flag, kwargs in options:
        p.add_argument(flag, **kwargs)
    p.set_defaults(func=func)


def _epochs(section: str) -> tuple[str, dict]:
    return "--epochs", {"type": int, "help": f"override {section}.epochs"}


def register(sub: argparse._SubParsersAction) -> None:
    wm = sub.add_parser("wm", help="World Models on CarRacing-v3").add_subparsers(dest="wm_command", metavar="STEP")
    _command(wm, "collect", "record episodes (random or trained policy) to RUN/data", _collect,
             ("--episodes", {"type": int, "help": "override collect.episodes"}),
             ("--policy", {"choices": ("white", "brownian", "controller"), "help": "override collect.policy"}),
             ("--data", {"type": Path, "help": "output directory (default RUN/data)"}))
    _command(wm, "train-vae", "train the VAE on RUN/data and export latents to RUN/latents", _train_vae,
             _epochs("vae"))
    _command(wm, "train-rnn", "train the MDN-RNN on RUN/latents", _train_rnn, _epochs("rnn"))
    _command(wm, "train-controller", "CMA-ES on the controller (resumes from its last generation)", _train_controller,
             ("--generations", {"type": int, "help": "override controller.generations"}),
             ("--zonly", {"action": "store_true", "help": "train the z-only controller (RUN/controller_zonly)"}),
             ("--dream", {"action": "store_true",
                          "help": "train inside the MDN-RNN instead of CarRacing (RUN/controller_dream)"}))
    _command(wm, "eval", "score trained controllers over random tracks, draw figures and a GIF", _eval,
             ("--episodes", {"type": int, "help": "override eval.episodes"}),
             ("--only", {"nargs": "+", "choices": ("controller", "controller_zonly", "controller_dream"),
                         "help": "score just these controllers; keep the others' scores in RUN/eval.json"}))
    _command(wm, "run", "the whole pipeline, resumable at every stage", _run,
             ("--until", {"default": "eval", "help": "last stage to run"}))


def _config(args: argparse.Namespace):
    from dgmlab.world_models.config import PipelineConfig, load_config

    saved = args.run / "config.json"
    if args.config is None and saved.is_file():
        return PipelineConfig.from_json(saved)
    return load_config(args.config or "small")


def _override(cfg, section: str, **values):
    """Return ``cfg`` with ``cfg.<section>`` fields replaced by the given non-None values."""
    values = {k: v for k, v in values.items() if v is not None}
    return dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **values)})


def _executor(args: argparse.Namespace):
    from dgmlab.world_models.executors import make_executor

    return make_executor(args.executor, args.workers, args.ray_address)


def _save(args: argparse.Namespace, cfg) -> None:
    args.run.mkdir(parents=True, exist_ok=True)
    cfg.to_json(args.run / "config.json")


def _collect(args: argparse.Namespace) -> int:
    from dgmlab.world_models.cmaes import load_best
    from dgmlab.world_models.collect import collect
    from dgmlab.world_models.pipeline import agent_spec

    cfg = _override(_config(args), "collect", episodes=args.episodes, policy=args.policy)
    _save(args, cfg)
    params = spec = None
    if cfg.collect.policy == "controller":
        params, spec = load_best(args.run / "controller"), agent_spec(args.run, cfg, True, cfg.collect.max_steps)
    executor = _executor(args)
    try:
        summary = collect(args.data or args.run / "data", cfg.collect, executor, cfg.controller.timeout_s, params, spec)
    finally:
        executor.close()
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0


def _stage(args: argparse.Namespace, cfg, stages: tuple[str, ...]) -> None:
    from dgmlab.world_models.pipeline import run_data_stage

    _save(args, cfg)
    for stage in stages:
        run_data_stage(args.run, cfg, None, stage)


def _train_vae(args: argparse.Namespace) -> int:
    _stage(args, _override(_config(args), "vae", epochs=args.epochs), ("vae", "latents"))
    return 0


def _train_rnn(args: argparse.Namespace) -> int:
    _stage(args, _override(_config(args), "rnn", epochs=args.epochs), ("rnn",))
    return 0


def _train_controller(args: argparse.Namespace) -> int:
    from dgmlab.world_models.pipeline import train_controller

    cfg = _config(args)
    if args.zonly:  # --generations sets the z-only run's length, leaving the full controller's in the config
        gens = args.generations or cfg.zonly_generations or cfg.controller.generations
        cfg = dataclasses.replace(cfg, zonly_generations=gens)
    else:
        cfg = _override(cfg, "controller", generations=args.generations)
        gens = cfg.controller.generations
    _save(args, cfg)
    if args.dream:  # a per-command choice, not saved into the run's config
        cfg = _override(cfg, "controller", dream=True)
    executor = _executor(args)
    try:
        best = train_controller(args.run, cfg, executor, use_hidden=not args.zonly, generations=gens)
    finally:
        executor.close()
    print(f"best parameters: {len(best)} values; checkpoint in {args.run}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from dgmlab.world_models.pipeline import evaluate_run

    cfg = _override(_config(args), "eval", episodes=args.episodes)
    executor = _executor(args)
    try:
        result = evaluate_run(args.run, cfg, executor, tuple(args.only) if args.only else None)
    finally:
        executor.close()
    for key in ("controller", "controller_zonly", "controller_dream"):
        if key in result:
            print(f"{key}: {result[key]['mean']:.1f} +- {result[key]['std']:.1f} over {result['episodes']} tracks")
    return 0


def _run(args: argparse.Namespace) -> int:
    from dgmlab.world_models.pipeline import run_pipeline

    cfg = _config(args)
    executor = _executor(args)
    try:
        done = run_pipeline(args.run, cfg, executor, args.until)
    finally:
        executor.close()
    print(json.dumps(done, indent=2))
    return 0
