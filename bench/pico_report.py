"""Print the README tables of a PICO experiment directory and copy its results and figures.

    PYTHONPATH=python python bench/pico_report.py --run runs/pico_digits --out bench/results/pico_digits
    PYTHONPATH=python python bench/pico_report.py --run runs/pico_car --out bench/results/pico_car_v3

Every number printed is read from the files ``dgmlab pico digits`` / ``dgmlab pico car`` wrote.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

_NAMES = {"pico": "PICO", "perceptual": "perceptual", "random": "non-adaptive", "pico_rate": "PICO rate-aware",
          "jpeg": "JPEG", "webp": "WebP", "uncompressed": "uncompressed"}


def _setting(r: dict) -> str:
    if "quality" in r and r.get("quality") not in (None, ""):
        return f"quality {r['quality']}"
    if r["method"] == "pico_rate":
        return f"λ = {r['lambda']:g} (mean k = {r['blocks_kept']:.2f} blocks)"
    return f"ρ = {r['budget']:g}"


def agreement_table(rows: list[dict]) -> str:
    steer = any("steer_abs_err" in r for r in rows)
    has_prob = not steer  # the controller is deterministic: its "probabilities" are one-hot
    head = "| method | setting | bits / obs | agreement (argmax) | " + ("agreement (mean prob) | " if has_prob else "")
    head += ("steering abs. error | " if steer else "") + "pixel MAE | distinct masks | mask entropy (bits) |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(rows, key=lambda r: (list(_NAMES).index(r["method"]), r["bits_per_obs"])):
        cells = [_NAMES[r["method"]], _setting(r), f"{r['bits_per_obs']:.1f}",
                 f"{r['agree_argmax']:.3f} ± {r['agree_argmax_se']:.3f}"]
        if has_prob:
            cells.append(f"{r['agree_prob']:.3f} ± {r['agree_prob_se']:.3f}")
        if steer:
            cells.append(f"{r['steer_abs_err']:.3f}")
        entropy = r.get("mask_entropy_bits")
        cells += [f"{r['mae']:.3f}", str(r.get("distinct_masks", "–")), "–" if entropy is None else f"{entropy:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_table(rows: list[dict], mean_prob: bool = True) -> str:
    """PICO minus each baseline, paired per observation; ``mean_prob=False`` for a deterministic user (car)."""
    lines = ["| ρ | PICO − perceptual (argmax) | " + ("PICO − perceptual (mean prob) | " if mean_prob else "")
             + "PICO − non-adaptive (argmax) |", "|---|---:|" + ("---:|" if mean_prob else "") + "---:|"]
    for budget in dict.fromkeys(r["budget"] for r in rows):
        by = {r["b"]: r for r in rows if r["budget"] == budget}
        p, n = by["perceptual"], by["random"]
        cells = [f"{budget:g}", f"{p['diff_argmax']:+.3f} ± {p['diff_argmax_se']:.3f}"]
        if mean_prob:
            cells.append(f"{p['diff_prob']:+.3f} ± {p['diff_prob_se']:.3f}")
        cells.append(f"{n['diff_argmax']:+.3f} ± {n['diff_argmax_se']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def closed_loop_table(rows: list[dict]) -> str:
    lines = [("| method | ρ | kept latents coded under | bits / frame | score mean ± std | tracks | distinct masks / "
              "episode | blocks never sent / episode | mean age of held blocks (frames) |"),
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        uncompressed = r["method"] == "uncompressed"
        cells = [_NAMES[r["method"]], f"{r['budget']:g}", "– (float latents)" if uncompressed else
                 {"predictive": "MDN-RNN predictive"}.get(r.get("code"), "prior N(0, 1)"),
                 "–" if uncompressed else f"{r['bits_per_frame']:.1f}",
                 f"{r['score_mean']:.1f} ± {r['score_std']:.1f}", str(r["tracks"])]
        cells += ["–" if s not in r else f"{r[s]:.1f}" for s in ("distinct_masks", "never_sent_blocks", "mean_age")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def closed_loop_paired(episodes: list[dict]) -> list[dict]:
    """Per budget, on the same tracks (prior-coded rows): PICO minus each baseline's score (± standard error of the
    per-track difference), and per method the predictive / prior bits ratio of the same drives (± s.e.)."""
    from dgmlab.pico.evaluate import mean_se

    def by_seed(method: str, budget: float, code: str | None) -> dict[int, dict]:
        return {r["seed"]: r for r in episodes if (r["method"], r["budget"]) == (method, budget)
                and (code is None or r.get("code", "prior") == code)}

    out = []
    for budget in dict.fromkeys(r["budget"] for r in episodes if r["method"] != "uncompressed"):
        pico = by_seed("pico", budget, "prior")
        for other, code in (("random", "prior"), ("perceptual", "prior"), ("uncompressed", None)):
            rows = by_seed(other, 1.0 if other == "uncompressed" else budget, code)
            seeds = sorted(set(pico) & set(rows))
            if seeds:
                m, se = mean_se([pico[s]["score"] - rows[s]["score"] for s in seeds])
                out.append({"budget": budget, "a": "pico", "b": other, "tracks": len(seeds), "diff": m, "se": se})
        for method in ("pico", "random", "perceptual"):
            prior, pred = by_seed(method, budget, "prior"), by_seed(method, budget, "predictive")
            seeds = sorted(set(prior) & set(pred))
            if seeds:
                if any(prior[s]["score"] != pred[s]["score"] for s in seeds):
                    raise ValueError(f"{method} rho={budget}: prior and predictive rows are not the same drives")
                m, se = mean_se([pred[s]["bits_per_frame"] / prior[s]["bits_per_frame"] for s in seeds])
                out.append({"budget": budget, "method": method, "tracks": len(seeds), "bits_ratio": m, "se": se})
    return out


def closed_loop_paired_table(rows: list[dict]) -> str:
    lines = ["| ρ | comparison (same tracks) | tracks | difference ± s.e. |", "|---:|---|---:|---:|"]
    for r in rows:
        if "diff" in r:
            what = f"PICO − {_NAMES[r['b']]} score"
            lines.append(f"| {r['budget']:g} | {what} | {r['tracks']} | {r['diff']:+.1f} ± {r['se']:.1f} |")
        else:
            what = f"{_NAMES[r['method']]}: MDN-RNN predictive / prior bits (same drives)"
            lines.append(f"| {r['budget']:g} | {what} | {r['tracks']} | {r['bits_ratio']:.3f} ± {r['se']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = json.loads((args.run / "results.json").read_text())
    print(agreement_table(rows))
    if (args.run / "paired.json").is_file():
        print()
        car = any("steer_abs_err" in r for r in rows)
        print(paired_table(json.loads((args.run / "paired.json").read_text()), mean_prob=not car))
    episodes = args.run / "closed_loop_episodes.jsonl"
    if episodes.is_file():  # summarised from the per-track rows, so a run still going reports what it has
        from dgmlab.pico.car_sweep import summarise_closed_loop
        from dgmlab.pico.plots import plot_scores

        episode_rows = [json.loads(line) for line in episodes.read_text().splitlines()]
        summary = summarise_closed_loop(episode_rows)
        (args.out / "closed_loop.json").write_text(json.dumps(summary, indent=1))
        plot_scores(summary, args.out / "closed_loop.png")
        print()
        print(closed_loop_table(summary))
        paired = closed_loop_paired(episode_rows)
        (args.out / "closed_loop_paired.json").write_text(json.dumps(paired, indent=1))
        print()
        print(closed_loop_paired_table(paired))
    for name in ("results.json", "paired.json", "closed_loop_episodes.jsonl", "agreement.png", "gallery.png",
                 "models/digits_models.json"):
        if (args.run / name).is_file():
            shutil.copy(args.run / name, args.out / Path(name).name)


if __name__ == "__main__":
    main()
