"""Markdown tables (for README) and a JSON summary from ``dgmlab imitation benchmark`` output folders.

    python bench/imitation_table.py bench_out/classic bench_out/hopper --json summary.json
    python bench/imitation_table.py runs/gail_new runs/old:bc,fem --figure figure_2_1.png
    python bench/imitation_table.py classic mountaincar_250k --envs MountainCar-v0

Prints, per environment, the normalised score (mean +- std over seeds, and the seed count) of every algorithm at
every dataset size, plus the expert and random returns used for the normalisation. ``DIR:algo,algo`` takes
only those algorithms' rows from DIR. Rows do not record GAIL's discriminator settings, so rows of one algorithm
from two folders are never pooled: each folder gets its own table row, labelled ``ALGO (DIR)``. ``--figure``
draws Figure 2.1 and needs one folder per (environment, algorithm); ``--envs`` keeps only those environments.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dgmlab.imitation.benchmark import read_rows, summarize
from dgmlab.imitation.plots import plot_figure_2_1

ORDER = ("bc", "fem", "gtal", "gail")


def _sources(rows: list[dict], env: str, algo: str) -> list[str]:
    """The folders that hold rows of ``algo`` on ``env``, in the order they were given."""
    return list(dict.fromkeys(r["folder"] for r in rows if (r["env"], r["algorithm"]) == (env, algo)))


def table(rows: list[dict], reference: dict) -> str:
    """One markdown table per environment: rows = algorithms (one per source folder), columns = dataset sizes."""
    lines = []
    for env in sorted({r["env"] for r in rows}):
        sizes = sorted({r["trajectories"] for r in rows if r["env"] == env})
        ref = reference[env]
        lines.append(f"**{env}** (expert return {ref['expert']:.1f}, random {ref['random']:.1f}; "
                     "cells: mean ± std of the normalised score over seeds (number of seeds))\n")
        lines.append("| algorithm | env steps per run | " + " | ".join(f"{n} traj." for n in sizes) + " |")
        lines.append("|---|---|" + "---|" * len(sizes))
        for algo in ORDER:
            folders = _sources(rows, env, algo)
            for folder in folders:
                own = [r for r in rows if (r["env"], r["algorithm"], r["folder"]) == (env, algo, folder)]
                summary = summarize(own)
                for coef in sorted({k[3] for k in summary}):
                    cells = []
                    for n in sizes:
                        stat = summary.get((env, algo, n, coef))
                        cells.append(f"{stat[0]:.2f} ± {stat[1]:.2f} ({stat[2]})" if stat else "–")
                    label = algo.upper() + (f" λ={coef:g}" if coef else "") + (f" ({folder})" if len(folders) > 1
                                                                                else "")
                    steps = sorted({r["steps"] for r in own})
                    lines.append(f"| {label} | {', '.join(f'{x:,}' for x in steps)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def select_rows(spec: str) -> tuple[Path, list[dict]]:
    """``DIR`` or ``DIR:algo,algo`` -> (folder, its results rows of those algorithms, each tagged with DIR)."""
    folder, _, algos = spec.partition(":")
    wanted = set(algos.split(",")) if algos else set(ORDER)
    if not wanted <= set(ORDER):
        unknown = sorted(wanted - set(ORDER))
        raise SystemExit(f"dirs: unknown algorithm(s) {unknown} in {spec!r}; expected some of {ORDER}")
    rows = [r for r in read_rows(Path(folder) / "results.csv") if r["algorithm"] in wanted]
    return Path(folder), [{**r, "folder": folder} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="benchmark output folders, each optionally DIR:algo,algo")
    parser.add_argument("--envs", nargs="+", help="keep only these environments")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")
    parser.add_argument("--figure", type=Path, help="also draw Figure 2.1 (PNG) from the rows")
    args = parser.parse_args()
    rows, reference = [], {}
    for spec in args.dirs:
        d, rows_from_d = select_rows(spec)
        rows += rows_from_d
        reference.update(json.loads((d / "reference.json").read_text()))
    if args.envs:
        rows = [r for r in rows if r["env"] in args.envs]
    print(table(rows, reference))
    if args.figure:
        shared = sorted({f"{r['env']} {r['algorithm']}" for r in rows if len(_sources(rows, r["env"],
                                                                                      r["algorithm"])) > 1})
        if shared:
            raise SystemExit(f"--figure: rows of {shared} come from more than one folder; pick one with "
                             "DIR:algo,algo or --envs")
        plot_figure_2_1(rows, args.figure)
    if args.json:
        summary = []
        for folder in dict.fromkeys(r["folder"] for r in rows):
            summary += [{"folder": folder, "env": k[0], "algorithm": k[1], "trajectories": k[2],
                         "entropy_coef": k[3], "score_mean": v[0], "score_std": v[1], "seeds": v[2]}
                        for k, v in summarize([r for r in rows if r["folder"] == folder]).items()]
        args.json.write_text(json.dumps({"reference": reference, "summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
