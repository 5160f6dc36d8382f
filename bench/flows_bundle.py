"""Copy a trained run's EMA weights into the package as a bundled model, with its description and measured figures.

    python bench/flows_bundle.py --run RUN_DIR --name natural --results bench/results/flows_natural.json \
        --command "dgmlab flows train ..." --hardware "2-core shared CPU"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1] / "python" / "dgmlab" / "flows" / "pretrained"
"""The source tree's bundled-model folder (not the installed package's), so the files land in git."""


def descriptions(name: str, train: dict, crop: int) -> dict:
    """Where the bundled model's training and held-out images come from; ``train``: the run's TrainConfig."""
    how = f"random {crop}x{crop} crops, picked by {train.get('crop_weighting', 'area')}"
    if train.get("augment", "none") != "none":
        how += f", augmented {train['augment']}"
    if name == "natural":
        from dgmlab.data.natural import DEMO_SOURCES, HELDOUT_SOURCES, train_sources

        colour_only = train["data"] == "natural:colour"
        grey = "" if colour_only else "greyscale ones as RGB; "
        return {
            "train_sources": f"{', '.join(train_sources(colour_only))} ({grey}{how})",
            "heldout_sources": f"{', '.join(HELDOUT_SOURCES)} (non-overlapping 64x64 tiles); also never trained on: "
            f"{', '.join(DEMO_SOURCES)}",
        }
    return {
        "train_sources": "Gymnasium CarRacing-v3 frames, 16 episodes seeded 0..15, smooth random policy, first 50 "
        f"frames skipped, 84-row crop + PIL bilinear 64x64 ({how})",
        "heldout_sources": "4 episodes seeded 10000..10003 (whole 64x64 frames)",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="training run folder")
    p.add_argument("--name", required=True, choices=("natural", "car-racing"))
    p.add_argument("--results", required=True, help="JSON from bench/flows_compare.py for this model")
    p.add_argument("--command", required=True, help="the training command, recorded verbatim")
    p.add_argument("--hardware", required=True)
    p.add_argument("--note", default="", help="anything else about how the run went (resumes, changes)")
    p.add_argument(
        "--weights",
        choices=("model", "best"),
        default="model",
        help="model: the run's last EMA weights; best: its best-validation EMA weights (best.pt, early stopping)",
    )
    args = p.parse_args()

    from dgmlab.flows.pretrained import BUNDLED

    run = Path(args.run)
    meta = json.loads((run / f"{args.weights}.json").read_text())
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    seconds = sum(float(r.split(",")[-1]) for r in _segment_ends(rows))
    results = json.loads(Path(args.results).read_text())
    target = ROOT / f"{BUNDLED[args.name]}.pt"
    ROOT.mkdir(parents=True, exist_ok=True)
    state = torch.load(run / f"{args.weights}.pt", map_location="cpu", weights_only=True)
    torch.save(state, target)
    meta.update(
        descriptions(args.name, meta["train"], meta["config"]["image_size"]),
        name=args.name,
        command=args.command,
        hardware=args.hardware,
        note=args.note,
        train_wall_seconds=round(seconds),
        heldout=results,
    )
    target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and {target.with_suffix('.json')}")


def _segment_ends(rows: list[str]) -> list[str]:
    """Last metrics row of each resumed segment (``seconds`` restarts at every resume)."""
    ends = []
    for i, row in enumerate(rows):
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if nxt is None or float(nxt.split(",")[-1]) < float(row.split(",")[-1]):
            ends.append(row)
    return ends


if __name__ == "__main__":
    main()
