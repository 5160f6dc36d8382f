"""Markdown tables (for README) and a JSON summary from ``dgmlab imitation benchmark`` output folders.

    python bench/imitation_table.py bench_out/classic bench_out/hopper --json summary.json

Prints, per environment, the normalised score (mean +- std over seeds, and the seed count) of every algorithm at
every dataset size, plus the expert and random returns used for the normalisation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dgmlab.imitation.benchmark import read_rows, summarize

ORDER = ("bc", "fem", "gtal", "gail")


def table(rows: list[dict], reference: dict) -> str:
    """One markdown table per environment: rows = algorithms, columns = dataset sizes."""
    summary = summarize(rows)
    lines = []
    for env in sorted({k[0] for k in summary}):
        sizes = sorted({k[2] for k in summary if k[0] == env})
        ref = reference[env]
        lines.append(f"**{env}** (expert return {ref['expert']:.1f}, random {ref['random']:.1f}; "
                     "cells: mean ± std of the normalised score over seeds (number of seeds))\n")
        lines.append("| algorithm | env steps per run | " + " | ".join(f"{n} traj." for n in sizes) + " |")
        lines.append("|---|---|" + "---|" * len(sizes))
        for algo in ORDER:
            for coef in sorted({k[3] for k in summary if k[0] == env and k[1] == algo}):
                cells = []
                for n in sizes:
                    stat = summary.get((env, algo, n, coef))
                    cells.append(f"{stat[0]:.2f} ± {stat[1]:.2f} ({stat[2]})" if stat else "–")
                label = algo.upper() + (f" λ={coef:g}" if coef else "")
                steps = sorted({r["steps"] for r in rows if (r["env"], r["algorithm"]) == (env, algo)})
                lines.append(f"| {label} | {', '.join(f'{x:,}' for x in steps)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="benchmark output folders")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")
    args = parser.parse_args()
    rows, reference = [], {}
    for d in args.dirs:
        rows += read_rows(d / "results.csv")
        reference.update(json.loads((d / "reference.json").read_text()))
    print(table(rows, reference))
    if args.json:
        summary = [{"env": k[0], "algorithm": k[1], "trajectories": k[2], "entropy_coef": k[3], "score_mean": v[0],
                    "score_std": v[1], "seeds": v[2]} for k, v in summarize(rows).items()]
        args.json.write_text(json.dumps({"reference": reference, "summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
