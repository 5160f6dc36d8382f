"""Markdown tables (for README) and a JSON summary from ``dgmlab imitation benchmark`` output folders.

    python bench/imitation_table.py bench_out/classic bench_out/hopper --json summary.json
    python bench/imitation_table.py runs/gail_new runs/old:bc,fem --figure figure_2_1.png

Prints, per environment, the normalised score (mean +- std over seeds, and the seed count) of every algorithm at
every dataset size, plus the expert and random returns used for the normalisation. ``DIR:algo,algo`` takes
only those algorithms' rows from DIR (rows do not record GAIL's discriminator settings, so two folders with
GAIL rows of different settings must not be pooled); ``--figure`` draws Figure 2.1 from the pooled rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dgmlab.imitation.benchmark import read_rows, summarize
from dgmlab.imitation.plots import plot_figure_2_1

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


def select_rows(spec: str) -> tuple[Path, list[dict]]:
    """``DIR`` or ``DIR:algo,algo`` -> (folder, its results rows of those algorithms)."""
    folder, _, algos = spec.partition(":")
    wanted = set(algos.split(",")) if algos else set(ORDER)
    if not wanted <= set(ORDER):
        unknown = sorted(wanted - set(ORDER))
        raise SystemExit(f"dirs: unknown algorithm(s) {unknown} in {spec!r}; expected some of {ORDER}")
    return Path(folder), [r for r in read_rows(Path(folder) / "results.csv") if r["algorithm"] in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="benchmark output folders, each optionally DIR:algo,algo")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")
    parser.add_argument("--figure", type=Path, help="also draw Figure 2.1 (PNG) from the pooled rows")
    args = parser.parse_args()
    rows, reference = [], {}
    for spec in args.dirs:
        d, rows_from_d = select_rows(spec)
        rows += rows_from_d
        reference.update(json.loads((d / "reference.json").read_text()))
    print(table(rows, reference))
    if args.figure:
        plot_figure_2_1(rows, args.figure)
    if args.json:
        summary = [{"env": k[0], "algorithm": k[1], "trajectories": k[2], "entropy_coef": k[3], "score_mean": v[0],
                    "score_std": v[1], "seeds": v[2]} for k, v in summarize(rows).items()]
        args.json.write_text(json.dumps({"reference": reference, "summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
