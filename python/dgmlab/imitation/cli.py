"""``dgmlab imitation ...`` commands: expert, demos, train, evaluate, benchmark.

Training commands resume from ``--out`` when it already holds a checkpoint, so re-running a command continues it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: torch and gymnasium are imported inside the handlers
    from dgmlab.imitation.demos import Demonstrations
    from dgmlab.imitation.onpolicy import TRPO, TRPOConfig

ALGOS = ("gail", "bc", "fem", "gtal")


def register(sub: argparse._SubParsersAction) -> None:
    imitation = sub.add_parser("imitation", help="GAIL, behavioural cloning, FEM/GTAL (Chapter 2)")
    isub = imitation.add_subparsers(dest="imitation_command", metavar="COMMAND")
    _add_expert(isub)
    _add_demos(isub)
    _add_train(isub)
    _add_evaluate(isub)
    _add_benchmark(isub)


def _add_trpo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", required=True, help="gymnasium environment id, e.g. Hopper-v5")
    p.add_argument("--steps", type=int, default=25_000_000, help="total environment steps (thesis: 500 x 50,000)")
    p.add_argument("--steps-per-iter", type=int, default=50_000, help="state-action pairs per TRPO iteration")
    p.add_argument("--num-envs", type=int, default=0, help="parallel environments (0: one per core, at most 8)")
    p.add_argument("--sync", action="store_true", help="step environments in this process, not subprocesses")
    p.add_argument("--entropy-coef", type=float, default=0.0, help="causal entropy lambda (Eq. 2.27)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="model / checkpoint file (.zip); resumed if present")
    p.add_argument("--metrics", type=Path, help="CSV of per-iteration metrics (default: OUT with .csv)")
    p.add_argument("--checkpoint-every", type=int, default=5, help="iterations between checkpoints")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def _add_expert(isub: argparse._SubParsersAction) -> None:
    p = isub.add_parser("expert", help="train a TRPO expert on the true reward")
    _add_trpo_args(p)
    p.set_defaults(func=_expert)


def _add_demos(isub: argparse._SubParsersAction) -> None:
    p = isub.add_parser("demos", help="sample expert trajectories into a .npz dataset")
    p.add_argument("--expert", required=True, type=Path, help="saved expert model (.zip)")
    p.add_argument("--n", type=int, default=25, help="number of trajectories")
    p.add_argument("--seed", type=int, default=0, help="first environment reset seed")
    p.add_argument("--out", required=True, type=Path, help="output .npz file, or folder with --format minari")
    p.add_argument("--format", choices=("npz", "minari"), default="npz",
                   help="npz (dgmlab.demos/1) or a Minari-style HDF5 dataset folder")
    p.set_defaults(func=_demos)


def _add_train(isub: argparse._SubParsersAction) -> None:
    p = isub.add_parser("train", help="imitate a demonstrations file with GAIL, BC, FEM or GTAL")
    _add_trpo_args(p)
    p.add_argument("--algo", choices=ALGOS, default="gail")
    p.add_argument("--demos", required=True, type=Path, help="demonstrations .npz file or Minari-style folder")
    p.add_argument("--trajectories", type=int, default=0, help="use this many trajectories (0: all)")
    p.add_argument("--subsample", type=int, default=0, help="keep every k-th pair (0: the thesis' factor: 20 on "
                   "MuJoCo, 10 CartPole, 5 Acrobot/MountainCar, else 1)")
    p.add_argument("--reward-form", choices=("auto", "neg_log_d", "log_one_minus_d"), default="auto",
                   help="GAIL reward: -log D or log(1-D) (auto: log(1-D) on Acrobot/MountainCar)")
    p.add_argument("--disc-lr", type=float, default=0.01, help="GAIL discriminator Adam learning rate")
    p.add_argument("--disc-entropy-coef", type=float, default=0.001, help="GAIL discriminator entropy bonus")
    p.add_argument("--disc-steps", type=int, default=0, help="GAIL discriminator Adam steps per iteration "
                   "(0: 1 with the log(1-D) reward, else 5; 1 is the thesis' setting)")
    p.set_defaults(func=_train)


def _add_evaluate(isub: argparse._SubParsersAction) -> None:
    p = isub.add_parser("evaluate", help="true return of a saved model (and its normalised score)")
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--reference", type=Path, help="benchmark reference.json, to print the normalised score")
    p.set_defaults(func=_evaluate)


def _add_benchmark(isub: argparse._SubParsersAction) -> None:
    from dgmlab.imitation.benchmark import ALGORITHMS, CLASSIC

    p = isub.add_parser("benchmark", help="Figure 2.1: algorithms x dataset sizes x seeds -> CSV + PNG")
    p.add_argument("--envs", nargs="+", default=list(CLASSIC))
    p.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    p.add_argument("--trajectories", nargs="+", type=int, default=[1, 4, 7, 10])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=25_000_000, help="environment steps per FEM/GTAL/GAIL run")
    p.add_argument("--steps-per-iter", type=int, default=50_000)
    p.add_argument("--entropy-coefs", nargs="+", type=float, default=[0.0], help="GAIL lambdas (Figure 2.2)")
    p.add_argument("--disc-entropy-coef", type=float, default=0.001, help="GAIL discriminator entropy bonus")
    p.add_argument("--disc-steps", type=int, default=0, help="GAIL discriminator Adam steps per iteration "
                   "(0: 1 with the log(1-D) reward, else 5; 1 is the thesis' setting)")
    p.add_argument("--eval-episodes", type=int, default=50)
    p.add_argument("--subsample", type=int, default=0, help="0: the thesis' factor per task (20 MuJoCo, 10 CartPole, "
                   "5 Acrobot/MountainCar)")
    p.add_argument("--jobs", type=int, default=1, help="cells run in parallel processes")
    p.add_argument("--demos-dir", type=Path, required=True, help="folder with <env>.npz datasets")
    p.add_argument("--out-dir", type=Path, required=True)
    p.set_defaults(func=_benchmark)


def _trpo_config(args: argparse.Namespace) -> TRPOConfig:
    from dgmlab.imitation.onpolicy import TRPOConfig
    from dgmlab.imitation.trpo import TRPOStepConfig

    return TRPOConfig(steps_per_iter=args.steps_per_iter, num_envs=args.num_envs, async_envs=not args.sync,
                      seed=args.seed, step=TRPOStepConfig(entropy_coef=args.entropy_coef))


def _learn(model: TRPO, args: argparse.Namespace) -> int:
    metrics = args.metrics or args.out.with_suffix(".csv")
    model.learn(args.steps, checkpoint=args.out, checkpoint_every=args.checkpoint_every, metrics=metrics)
    print(json.dumps({"out": str(args.out), "steps": model.num_timesteps, "iterations": model.iteration}))
    return 0


def _expert(args: argparse.Namespace) -> int:
    import torch

    from dgmlab.imitation.onpolicy import TRPO

    torch.set_num_threads(args.threads)
    model = TRPO.load(args.out) if args.out.is_file() else TRPO(args.env, _trpo_config(args))
    return _learn(model, args)


def _demos(args: argparse.Namespace) -> int:
    from dgmlab.imitation.demos import sample_demonstrations
    from dgmlab.imitation.evaluation import load_model

    expert = load_model(args.expert)
    demos = sample_demonstrations(expert.predict, expert.env_id, args.n, args.seed)
    demos.meta["expert"] = str(args.expert)
    if args.format == "minari":
        from dgmlab.imitation.minari_format import save_minari

        save_minari(demos, args.out)
    else:
        demos.save(args.out)
    r = demos.episode_returns
    print(json.dumps({"out": str(args.out), "trajectories": len(r), "pairs": len(demos.observations),
                      "return_mean": float(r.mean()), "return_std": float(r.std())}))
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from dgmlab.imitation.benchmark import default_disc_steps, default_reward_form, default_subsample
    from dgmlab.imitation.minari_format import read_demonstrations

    torch.set_num_threads(args.threads)
    demos = read_demonstrations(args.demos)
    if args.trajectories:
        demos = demos.take(args.trajectories)
    demos = demos.subsample(args.subsample or default_subsample(args.env), seed=args.seed)
    if args.algo == "bc":
        return _train_bc(args, demos)
    if args.algo == "gail":
        from dgmlab.imitation.gail import GAIL, GAILConfig

        form = default_reward_form(args.env) if args.reward_form == "auto" else args.reward_form
        cfg = GAILConfig(trpo=_trpo_config(args), disc_lr=args.disc_lr, reward_form=form,
                         disc_entropy_coef=args.disc_entropy_coef,
                         disc_steps=args.disc_steps or default_disc_steps(form))
        model = GAIL.load(args.out, demos=demos) if args.out.is_file() else GAIL(args.env, demos, cfg)
    else:
        from dgmlab.imitation.apprenticeship import Apprenticeship, ApprenticeshipConfig

        cfg = ApprenticeshipConfig(trpo=_trpo_config(args), cost_class="linear" if args.algo == "fem" else "convex")
        model = Apprenticeship.load(args.out, demos=demos) if args.out.is_file() else Apprenticeship(
            args.env, demos, cfg)
    return _learn(model, args)


def _train_bc(args: argparse.Namespace, demos: Demonstrations) -> int:
    from dgmlab.imitation.bc import BC, BCConfig

    model = BC(args.env, demos, BCConfig(seed=args.seed)).learn()
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "epochs": len(model.history), "val_loss": min(h[2] for h in
                                                                                         model.history)}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from dgmlab.imitation.evaluation import load_model, normalized_score, policy_returns

    model = load_model(args.model)
    returns = policy_returns(model.predict, model.env_id, args.episodes)
    result = {"env": model.env_id, "return_mean": float(returns.mean()), "return_std": float(returns.std())}
    if args.reference is not None:
        ref = json.loads(args.reference.read_text())[model.env_id]
        result["score"] = float(normalized_score(returns.mean(), ref["expert"], ref["random"]))
    print(json.dumps(result))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from dgmlab.imitation.benchmark import BenchmarkConfig, run_benchmark, summarize

    cfg = BenchmarkConfig(envs=tuple(args.envs), algorithms=tuple(args.algos), trajectories=tuple(args.trajectories),
                          seeds=args.seeds, steps=args.steps, steps_per_iter=args.steps_per_iter,
                          entropy_coefs=tuple(args.entropy_coefs), disc_entropy_coef=args.disc_entropy_coef,
                          disc_steps=args.disc_steps, eval_episodes=args.eval_episodes,
                          subsample=args.subsample, jobs=args.jobs, demos_dir=str(args.demos_dir),
                          out_dir=str(args.out_dir))
    rows = run_benchmark(cfg)
    for (env, algo, n, coef), (mean, std, k) in summarize(rows).items():
        print(f"{env:16s} {algo:5s} traj={n:3d} lambda={coef:g} score={mean:.3f} +- {std:.3f} (seeds={k})")
    return 0
