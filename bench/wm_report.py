"""Summarise a World Models run directory into JSON and copy its figures (README numbers come from here).

    PYTHONPATH=python python bench/wm_report.py --run runs/wm_small --out bench/results/wm_small
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from dgmlab.world_models.logs import read_csv


def summarise(run: Path) -> dict:
    out: dict = {"config": json.loads((run / "config.json").read_text()),
                 "stages": json.loads((run / "stages.json").read_text())}
    collect = run / "data" / "collect.json"
    if collect.is_file():
        out["collect"] = {k: v for k, v in json.loads(collect.read_text()).items() if k != "config"}
    for name, key in (("vae/vae_metrics.csv", "losses/total"), ("rnn/rnn_metrics.csv", "losses/z_nll")):
        if (run / name).is_file():
            rows = read_csv(run / name)
            out[name.split("/")[0] + "_loss_first_last"] = [rows[0][key], rows[-1][key]]
    for sub in ("controller", "controller_zonly", "controller_dream"):
        if (run / sub / "cmaes_metrics.csv").is_file():
            rows = read_csv(run / sub / "cmaes_metrics.csv")
            out[sub] = {"generations": len(rows),
                        "mean_seconds_per_generation": sum(r["charts/seconds"] for r in rows) / len(rows),
                        "curve": [{k: round(v, 2) for k, v in r.items()} for r in rows]}
            if (run / sub / "cmaes_eval.csv").is_file():
                out[sub]["reevaluations"] = read_csv(run / sub / "cmaes_eval.csv")
    if (run / "eval.json").is_file():
        ev = json.loads((run / "eval.json").read_text())
        out["eval"] = {k: ({kk: vv for kk, vv in v.items() if kk != "returns"} if isinstance(v, dict) else v)
                       for k, v in ev.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-gif-mb", type=float, default=3.0, help="copy the GIF only if smaller than this")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = summarise(args.run)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    for fig in sorted((args.run / "figures").glob("*")) if (args.run / "figures").is_dir() else []:
        if fig.suffix == ".png" or fig.stat().st_size < args.max_gif_mb * 2**20:
            shutil.copy(fig, args.out / fig.name)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("config",)}, indent=1)[:3000])


if __name__ == "__main__":
    main()
