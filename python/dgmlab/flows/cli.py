"""``dgmlab flows {train,eval,sample}``: train Flow++ on a dataset, evaluate bits/dim, draw sample grids."""

from __future__ import annotations

import argparse
import json

from dgmlab.data.augment import AUGMENTATIONS
from dgmlab.data.patches import CROP_WEIGHTINGS
from dgmlab.data.registry import SPEC_HELP
from dgmlab.data.validation import VAL_HELP


def _parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def register(sub: argparse._SubParsersAction) -> None:
    flows = sub.add_parser("flows", help="Flow++: train, evaluate, sample").add_subparsers(
        dest="flows_command", metavar="ACTION", required=True
    )
    t = flows.add_parser("train", help="train (or resume) a Flow++ run in --out")
    t.add_argument("--out", required=True, help="run folder (re-running resumes from its checkpoint)")
    t.add_argument("--config", help="JSON file with TrainConfig fields (flags below override it)")
    t.add_argument("--data", help=f"dataset spec: {SPEC_HELP}")
    t.add_argument("--heldout", help="held-out dataset spec (default: the data's held-out split)")
    t.add_argument("--model", help="named model config: tiny | small | cifar10")
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_parse_override,
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. --set coupling=affine",
    )
    for flag, typ in (
        ("steps", int),
        ("batch-size", int),
        ("lr", float),
        ("warmup", int),
        ("seed", int),
        ("eval-every", int),
        ("eval-images", int),
        ("checkpoint-every", int),
        ("threads", int),
    ):
        t.add_argument(f"--{flag}", type=typ)
    t.add_argument("--val", help=f"validation split of the training images for early stopping: {VAL_HELP}")
    t.add_argument("--val-images", type=int, help="validation tiles evaluated every --eval-every steps")
    t.add_argument("--patience", type=int, help="stop after N validations without a new best (best.pt)")
    t.add_argument(
        "--augment",
        help=f"training-crop augmentation: none (default), or parts of {AUGMENTATIONS[1:]} joined by '+', "
        "e.g. flip-rot+zoom+gain+saturate+jpeg (see dgmlab.data.augment)",
    )
    t.add_argument(
        "--crop-weighting", choices=CROP_WEIGHTINGS, help="pick a crop's image by area (default) or uniformly"
    )
    t.add_argument("--init-from", help="start from a saved model.pt or bundled model name (fine-tuning)")
    t.add_argument("--time-limit", type=float, help="stop (after checkpointing) after this many minutes")
    t.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    t.set_defaults(func=_train)

    e = flows.add_parser(
        "eval", help="held-out bits/dim of a model (variational bound, optional importance-weighted)"
    )
    e.add_argument("model", help="model.pt of a run, a bundled model name (natural, car-racing)")
    e.add_argument("--data", help=f"images to evaluate: {SPEC_HELP} (default: the model's held-out data)")
    e.add_argument("--split", default="heldout", choices=("train", "heldout"))
    e.add_argument("--limit", type=int, help="evaluate only the first N images")
    e.add_argument(
        "--importance-samples",
        type=int,
        default=0,
        metavar="N",
        help="also report the importance-weighted estimate with N samples (Burda et al.)",
    )
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--json", help="write the results to this JSON file")
    e.set_defaults(func=_eval)

    s = flows.add_parser("sample", help="write a PNG grid of samples")
    s.add_argument("model", help="model.pt of a run, or a bundled model name (natural, car-racing)")
    s.add_argument("-o", "--output", required=True, help="PNG file to write")
    s.add_argument("-n", type=int, default=16, help="number of samples")
    s.add_argument("--size", type=int, help="image side (default: the model's image_size)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_sample)


def _train(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from dgmlab.flows.train import TrainConfig, train

    fields: dict = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"--config file not found: {path}")
        fields = json.loads(path.read_text())
    for name in (
        "data",
        "heldout",
        "model",
        "steps",
        "batch_size",
        "lr",
        "warmup",
        "seed",
        "eval_every",
        "eval_images",
        "checkpoint_every",
        "threads",
        "init_from",
        "val",
        "val_images",
        "patience",
        "augment",
        "crop_weighting",
    ):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    fields["overrides"] = {**fields.get("overrides", {}), **dict(args.overrides)}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if set(fields) - known:
        raise ValueError(f"unknown TrainConfig fields {sorted(set(fields) - known)}; known: {sorted(known)}")
    limit = args.time_limit * 60 if args.time_limit else None
    out = train(TrainConfig(**fields), args.out, args.device, limit)
    print(f"run folder: {out}")
    return 0


def _load(name: str, device: str):
    from dgmlab.flows.model import load_model
    from dgmlab.flows.pretrained import model_path

    return load_model(model_path(name), device)


def _eval(args: argparse.Namespace) -> int:
    from dgmlab.data.registry import load_images
    from dgmlab.flows.evaluate import evaluate_bpd

    model, meta = _load(args.model, args.device)
    spec = args.data or meta.get("train", {}).get("data") or meta.get("data")
    if spec is None:
        raise ValueError(f"{args.model}: no dataset recorded with the model; pass --data")
    images = load_images(spec, args.split)
    images = images[: args.limit] if args.limit else images
    result = evaluate_bpd(model, images, args.importance_samples, args.batch_size, args.seed)
    result.update(model=args.model, data=spec, split=args.split)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from dgmlab.flows.sample import sample_images, save_grid

    model, _ = _load(args.model, args.device)
    images = sample_images(model, args.n, args.size, args.temperature, args.seed)
    print(f"wrote {save_grid(images, args.output)}")
    return 0
