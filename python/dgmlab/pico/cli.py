"""``dgmlab pico ...``: pragmatic compression experiments (digits, car racing) and the human-labelling path."""

from __future__ import annotations

import argparse
from pathlib import Path


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    return [int(v) for v in _floats(text)]


def _pico_args(p: argparse.ArgumentParser, budgets: str) -> None:
    p.add_argument("--out", required=True, type=Path, help="output directory (models, results, figures)")
    p.add_argument("--budgets", type=_floats, default=_floats(budgets), help="fractions of blocks kept")
    p.add_argument("--rounds", type=int, default=2, help="collect / D / R / compressor rounds")
    p.add_argument("--passes", type=int, default=8, help="masks collected per observation per round")
    p.add_argument("--epochs", type=int, default=20, help="epochs of D, R and the compressor per round")
    p.add_argument("--step", type=float, default=0.25, help="quantisation step of kept latents")
    p.add_argument("--negative-label", type=float, default=0.25, help="soft label of (x, action on x_hat)")
    p.add_argument("--discriminator", choices=("categorical", "gaussian"), default="categorical",
                   help="user model: softmax over discrete actions, or a Gaussian score on continuous ones")
    p.add_argument("--informative-kl", type=float, default=0.01,
                   help="nats per block: blocks whose posterior is this close to the prior are kept last (0: off)")
    p.add_argument("--seed", type=int, default=0)


def register(sub: argparse._SubParsersAction) -> None:
    pico = sub.add_parser("pico", help="PICO: pragmatic compression that keeps what the user acts on")
    steps = pico.add_subparsers(dest="pico_command", metavar="STEP")
    p = steps.add_parser("digits", help="the digits sweep: PICO vs baselines vs JPEG/WebP at real bits")
    _pico_args(p, "0.1,0.2,0.3,0.4,0.5,0.7,1")
    p.add_argument("--qualities", type=_ints, default=_ints("1,5,10,20,30,50,70,90"), help="JPEG/WebP qualities")
    p.add_argument("--rate-lambdas", type=_floats, default=[], help="also train the rate-aware objective")
    p.add_argument("--gallery-budget", type=float, help="budget of the gallery (default: the median budget)")
    p.add_argument("--latent-dim", type=int, default=10, help="beta-VAE latents (one block each)")
    p.add_argument("--beta", type=float, default=0.2, help="beta-VAE KL weight")
    p.add_argument("--vae-epochs", type=int, default=200)
    p.add_argument("--classifier-epochs", type=int, default=100)
    p.set_defaults(func=_digits)
    p = steps.add_parser("car", help="car racing: steering agreement vs bits, and the closed loop on random tracks")
    _pico_args(p, "0.125,0.25,0.5")
    p.add_argument("--run", required=True, type=Path, help="World Models run directory (VAE, MDN-RNN, controller)")
    p.add_argument("--train-episodes", type=int, default=8, help="recorded episodes to train PICO on")
    p.add_argument("--test-episodes", type=int, default=3, help="recorded episodes for offline agreement")
    p.add_argument("--record-steps", type=int, default=300, help="frames per recorded episode")
    p.add_argument("--tracks", type=int, default=20, help="closed loop: random tracks per method and budget")
    p.add_argument("--max-steps", type=int, default=1000, help="closed loop: frames per episode")
    p.add_argument("--loop-budgets", type=_floats, default=[0.125, 0.25], help="closed loop: budgets")
    p.add_argument("--loop-methods", default="pico,random,perceptual", help="closed loop: methods")
    p.add_argument("--no-closed-loop", action="store_true", help="only the offline agreement sweep")
    p.add_argument("--code", choices=("prior", "predictive", "both"), default="prior",
                   help="closed loop: code kept latents under the VAE prior, the MDN-RNN's predictive distribution, "
                        "or each drive under both (one row per coder)")
    p.set_defaults(func=_car)
    p = steps.add_parser("queries", help="digits: export originals + reconstructions for a person to label")
    p.add_argument("--digits", required=True, type=Path, help="output directory of `dgmlab pico digits`")
    p.add_argument("--model", type=Path, help="PICO model directory whose masks to show (default: random masks)")
    p.add_argument("--budget", type=float, default=0.25)
    p.add_argument("--count", type=int, default=50, help="test digits to query")
    p.add_argument("--passes", type=int, default=2, help="reconstructions per digit")
    p.add_argument("--out", required=True, type=Path, help="queries file (.npz)")
    p.set_defaults(func=_queries)
    p = steps.add_parser("label", help="label queries at the keyboard (terminal; resumable)")
    p.add_argument("queries", type=Path)
    p.add_argument("--labels", required=True, type=Path, help="CSV of query_id,action (appended)")
    p.set_defaults(func=_label)
    p = steps.add_parser("train-labels", help="one PICO round on human labels from a CSV")
    p.add_argument("queries", type=Path)
    p.add_argument("--labels", required=True, type=Path, help="CSV of query_id,action")
    p.add_argument("--model", type=Path, help="PICO model to continue (default: a new one)")
    p.add_argument("--budget", type=float, default=0.25)
    p.add_argument("--out", required=True, type=Path, help="where to save the trained PICO model")
    p.set_defaults(func=_train_labels)


def _config(args: argparse.Namespace):
    from dgmlab.pico.core import PICOConfig

    e = args.epochs
    return PICOConfig(rounds=args.rounds, passes=args.passes, disc_epochs=e, reward_epochs=e, comp_epochs=e,
                      step=args.step, negative_label=args.negative_label, discriminator=args.discriminator,
                      informative_kl=args.informative_kl, seed=args.seed)


def _digits(args: argparse.Namespace) -> int:
    from dgmlab.pico.digits import DigitsConfig
    from dgmlab.pico.digits_sweep import run_digits
    from dgmlab.pico.masking import check_budget

    for b in args.budgets:
        check_budget(b)
    digits_cfg = DigitsConfig(args.latent_dim, args.beta, vae_epochs=args.vae_epochs,
                              classifier_epochs=args.classifier_epochs, seed=args.seed)
    run_digits(args.out, args.budgets, _config(args), digits_cfg, args.qualities, args.rate_lambdas,
               gallery_budget=args.gallery_budget)
    print(f"results: {args.out / 'results.csv'}, figures: {args.out / 'agreement.png'}, {args.out / 'gallery.png'}")
    return 0


def _car(args: argparse.Namespace) -> int:
    import torch

    from dgmlab.pico.car_sweep import CarSweep, run_car
    from dgmlab.pico.masking import check_budget

    for b in (*args.budgets, *args.loop_budgets):
        check_budget(b)
    methods = tuple(m for m in args.loop_methods.split(",") if m)
    bad = set(methods) - {"pico", "random", "perceptual"}
    if bad:
        raise SystemExit(f"--loop-methods: unknown {sorted(bad)}; choose from pico, random, perceptual")
    torch.set_num_threads(1)
    sweep = CarSweep(args.train_episodes, args.test_episodes, args.record_steps, args.tracks, args.max_steps,
                     tuple(args.loop_budgets), methods,
                     code=("prior", "predictive") if args.code == "both" else args.code)
    run_car(args.run, args.out, args.budgets, _config(args), sweep, closed_loop=not args.no_closed_loop)
    print(f"results: {args.out / 'results.csv'}" + ("" if args.no_closed_loop else f", {args.out / 'closed_loop.csv'}"))
    return 0


def _queries(args: argparse.Namespace) -> int:
    from dgmlab.pico.core import PICO
    from dgmlab.pico.digits import (
        DigitsConfig,
        digits_domain,
        load_digits_models,
        load_digits_split,
        reconstruct,
    )
    from dgmlab.pico.human import export_queries
    from dgmlab.pico.masking import check_budget

    check_budget(args.budget)
    vae, clf = load_digits_models(args.digits / "models")
    x_test = load_digits_split(DigitsConfig().test_fraction)[2][: args.count]
    model = PICO.load(args.model) if args.model else None
    n = export_queries(digits_domain(x_test, vae, clf), lambda z: reconstruct(vae, z).reshape(-1, 8, 8), model,
                       args.budget, args.passes, args.out)
    print(f"{n} queries in {args.out}; label them with: dgmlab pico label {args.out} --labels labels.csv")
    return 0


def _label(args: argparse.Namespace) -> int:
    from dgmlab.pico.human import label_terminal

    print(f"labelled {label_terminal(args.queries, args.labels)} queries into {args.labels}")
    return 0


def _train_labels(args: argparse.Namespace) -> int:
    import numpy as np

    from dgmlab.pico.core import PICO, PICOConfig
    from dgmlab.pico.human import train_on_labels

    if args.model:
        model = PICO.load(args.model)
    else:
        with np.load(args.queries) as q:
            shape = (q["features"].shape[1], q["masks"].shape[1], int(q["num_actions"]), int(q["block_size"]))
        model = PICO(*shape, cfg=PICOConfig(budget=args.budget))
    train_on_labels(model, args.queries, args.labels).save(args.out)
    print(f"PICO model trained on {args.labels} saved to {args.out}")
    return 0
