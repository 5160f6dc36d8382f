"""The car-racing experiment: agreement vs bits on recorded frames, then the closed loop on random tracks.

Writes to ``out/``: ``episodes_{train,test}.npz`` (the uncompressed agent's recorded episodes), PICO models per
(objective, budget), ``results.{json,csv}`` + ``agreement.png`` (offline agreement of the discretised steering), ``paired.{json,csv}``
(PICO minus perceptual and minus non-adaptive agreement, paired over the same test frames),
``closed_loop.{json,csv}`` + ``closed_loop.png`` (score over full episodes vs bits per frame, kept latents coded
under the prior or the MDN-RNN's predictive distribution (``CarSweep.code``); one row per track, appended as it
finishes, so a killed run resumes where it stopped).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dgmlab.pico.car_racing import car_domain, drive_episode, load_car_models, record_episodes
from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.evaluate import agreement, mean_se, paired_difference, sweep, train_or_load, write_rows
from dgmlab.pico.masking import budget_to_k, random_mask

__all__ = ["CarSweep", "run_car", "summarise_closed_loop"]


@dataclass
class CarSweep:
    """Sizes of the car-racing experiment."""

    train_episodes: int = 8
    test_episodes: int = 3
    record_steps: int = 300
    """Frames per recorded episode (training and offline agreement)."""
    tracks: int = 20
    """Closed loop: random tracks per (method, budget)."""
    max_steps: int = 1000
    """Closed loop: frames per episode (1000 = the full CarRacing episode)."""
    loop_budgets: tuple[float, ...] = (0.125, 0.25)
    loop_methods: tuple[str, ...] = ("pico", "random", "perceptual")
    steer_threshold: float = 0.1
    code: str | tuple[str, ...] = "prior"
    """Closed loop: code kept latents under the VAE prior (``prior``), the MDN-RNN's predictive distribution
    (``predictive``), or each drive under several (a tuple: one row per coder, the same episode)."""


def _chooser(method: str, model: PICO | None, budget: float, num_blocks: int, rng: np.random.Generator):
    if method == "random":
        return lambda f: random_mask(1, num_blocks, budget_to_k(budget, num_blocks, rng, 1), rng)[0]
    return lambda f: model.masks(f[None], rng)[0]


_STATS = ("distinct_masks", "never_sent_blocks", "mean_age")


def _closed_loop(out: Path, models, sweep_cfg: CarSweep, step: float, model_for, log) -> list[dict]:
    """Drive every (method, budget) on the same tracks; rows of every coder in the file are kept and summarised
    apart, and a track is driven only for the coders it has no row of yet (so a killed run resumes)."""
    path = out / "closed_loop_episodes.jsonl"
    done = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    codes = (sweep_cfg.code,) if isinstance(sweep_cfg.code, str) else tuple(sweep_cfg.code)
    # the uncompressed agent sends no bits, so its rows serve every coder
    seen = {(r["method"], r["budget"], r["seed"], "any" if r["method"] == "uncompressed" else r.get("code", "prior"))
            for r in done}
    num_blocks = models.vae.z_dim // 4
    configs = [("uncompressed", 1.0)] + [(m, b) for b in sweep_cfg.loop_budgets for m in sweep_cfg.loop_methods]
    for method, budget in configs:
        model = None if method in ("uncompressed", "random") else model_for(method, budget)
        for i in range(sweep_cfg.tracks):
            seed = 3_000_000 + i
            todo = (("any",) if method == "uncompressed" else codes)
            todo = tuple(c for c in todo if (method, budget, seed, c) not in seen)
            if not todo:
                continue
            # a generator per track: a track's drive does not depend on which tracks ran before it (resume, coder)
            rng = np.random.default_rng(zlib.crc32(f"{method} {budget:g} {seed}".encode()))
            choose = None if method == "uncompressed" else _chooser(method, model, budget, num_blocks, rng)
            r = drive_episode(models, choose, seed, step, sweep_cfg.max_steps, budget,
                              code=codes if method == "uncompressed" else todo)
            for c in todo:
                bits = r["bits_by_code"][c] if choose is not None else float("nan")
                row = {"method": method, "budget": budget, "seed": seed, "score": r["score"], "frames": r["frames"],
                       "bits_per_frame": bits, "code": codes[0] if c == "any" else c,
                       **{k: r[k] for k in _STATS if k in r}}
                log(f"closed loop {method} rho={budget:g} track {seed} ({row['code']}): score {r['score']:.1f} "
                    f"bits/frame {bits:.1f}")
                with open(path, "a") as f:
                    f.write(json.dumps(row) + "\n")
                done.append(row)
    return summarise_closed_loop(done)


def summarise_closed_loop(rows: list[dict]) -> list[dict]:
    """Per (method, budget, coder): tracks, score mean / std / standard error, mean bits per frame and the mean of
    the per-episode mask statistics. Uncompressed rows (no bits) form one group whatever coder wrote them."""
    def key(r: dict) -> tuple:
        return r["method"], r["budget"], None if r["method"] == "uncompressed" else r.get("code", "prior")

    out = []
    for k in dict.fromkeys(key(r) for r in rows):
        sel = [r for r in rows if key(r) == k]
        scores = np.array([r["score"] for r in sel])
        row = {"method": k[0], "budget": k[1], "code": k[2], "tracks": len(sel), "score_mean": float(scores.mean()),
               "score_std": float(scores.std()), "score_se": mean_se(scores)[1],
               "bits_per_frame": float(np.mean([r["bits_per_frame"] for r in sel]))}
        row.update({s: float(np.mean([r[s] for r in sel])) for s in _STATS if all(s in r for r in sel)})
        out.append(row)
    return out


def run_car(run_dir: str | Path, out: str | Path, budgets: list[float], base: PICOConfig, sweep_cfg: CarSweep,
            closed_loop: bool = True, log=print) -> tuple[list[dict], list[dict]]:
    """Offline agreement sweep and (optionally) the closed loop; returns (agreement rows, closed-loop summary)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = load_car_models(run_dir)
    s = sweep_cfg
    train_data = record_episodes(models, list(range(1000, 1000 + s.train_episodes)), s.record_steps,
                                 out / "episodes_train.npz")
    test_data = record_episodes(models, list(range(2000, 2000 + s.test_episodes)), s.record_steps,
                                out / "episodes_test.npz")
    train = car_domain(models, train_data, s.steer_threshold, base.step)
    test = car_domain(models, test_data, s.steer_threshold, base.step)

    def model_for(method: str, budget: float) -> PICO | None:
        if method == "random":
            return None
        cfg = replace(base, budget=budget, objective="agreement" if method == "pico" else "perceptual")
        return train_or_load(out / "models" / f"{method}_{budget:g}", train, cfg, progress=True)

    rows = sweep(test, budgets, base.step, model_for, seed=base.seed,
                 log=lambda r: log(f"{r['method']:>10} rho={r['budget']:.3f} bits={r['bits_per_obs']:7.2f} "
                                   f"agree={r['agree_argmax']:.3f} steer err={r['steer_abs_err']:.3f}"))
    write_rows(rows, out)
    # PICO minus each baseline on the same test frames (standard error of the per-frame difference)
    write_rows([paired_difference(test, b, base.step, ("pico", model_for("pico", b)), (other, model_for(other, b)),
                                  base.seed) for b in budgets for other in ("perceptual", "random")], out, "paired")
    ceiling = agreement(test.original_probs, test.user_probs(test.latents))
    from dgmlab.pico.plots import plot_agreement, plot_scores

    plot_agreement(rows, out / "agreement.png", "car racing: discretised steering agreement vs bits",
                   metrics=("argmax",), ceiling={"argmax": ceiling["agree_argmax"]})
    summary = []
    if closed_loop:
        summary = _closed_loop(out, models, s, base.step, model_for, log)
        write_rows(summary, out, "closed_loop")
        plot_scores(summary, out / "closed_loop.png")
    return rows, summary
