"""PICO vs the perceptual baseline on digits over training seeds, with lower-variance agreement and an oracle.

    OMP_NUM_THREADS=1 PYTHONPATH=python python bench/pico_digits_seeds.py --models DIGITS/models \
        --budgets 0.5,0.7 --seeds 0,1,2,3,4 --out bench/results/pico_digits/seeds.json

``DIGITS/models`` holds the digits VAE and classifier of a ``dgmlab pico digits`` run. For every (budget, seed) it
trains PICO and the perceptual baseline with the sweep's settings (``dgmlab pico digits`` defaults, ``seed`` in
``PICOConfig``) and scores the deployed masks on the 360 test digits three ways:

- ``agree_fill``: argmax agreement under the receiver's one seeded fill (the README table's measure);
- ``agree_exp``: agreement averaged over ``--fills`` fresh prior fills (seeds never used in training), which
  removes the noise of one fill draw from the comparison of two mask policies;
- the same ``agree_exp`` on the training digits (how much of the policy generalises).

Per budget also: the best single mask (chosen on the training digits by ``agree_exp``), and the per-digit oracle
(on each test digit, the mask with the highest ``agree_exp`` over every k-subset: an upper bound that looks at the
test digit's user, for scale only). For each trained reward model R: the true ``agree_exp`` of R's own argmax
mask per test digit, and the mean per-digit correlation between R's scores of all masks and their true
``agree_exp`` (how well R ranks masks), both among the masks the informative-first rule allows. Both methods train with ``PICOConfig.informative_kl`` (``--informative-kl``,
default the package default; 0 = the unrestricted compressor): latents whose mean KL(q(z_i | x) || p(z_i)) on the
training digits is below it are kept only after every informative one. The non-adaptive baselines, scored exactly
from the same per-subset rates: ``random_agree_exp`` (a uniformly random k-subset of all K latents, the paper's
baseline) and ``random_informative_agree_exp`` (uniformly random among the subsets the informative-first rule
allows). Differences PICO - perceptual are paired over digits within a seed, then averaged over seeds (± standard
error across seeds, the spread a re-run would show).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from math import comb
from pathlib import Path

import numpy as np
import torch

from dgmlab.pico.core import PICOConfig, received_latents
from dgmlab.pico.digits import digits_domain, load_digits_models, load_digits_split
from dgmlab.pico.evaluate import mean_se, train_or_load
from dgmlab.pico.masking import candidate_subsets, informative_blocks, mask_usage

FILL_BASE = 900_000  # fill seeds for evaluation draws (training draws come from the PICO seed's generator)


def match_rate(domain, masks: np.ndarray, step: float, fills: int) -> np.ndarray:
    """(N,) share of ``fills`` fresh prior fills under which the user's argmax on x_hat equals its argmax on x."""
    out = np.zeros(len(masks))
    for f in range(fills):
        z = received_latents(domain, masks, step, np.random.default_rng(FILL_BASE + f))
        out += domain.user_probs(z).argmax(1) == domain.user_actions
    return out / fills


def subset_rates(domain, k: int, step: float, fills: int) -> tuple[np.ndarray, np.ndarray]:
    """(subsets (C, K), rates (N, C)): ``match_rate`` of every fixed k-subset on every observation."""
    num_blocks = domain.num_blocks
    subsets = candidate_subsets(num_blocks, k, comb(num_blocks, k), np.random.default_rng(0))  # all, in order
    rates = np.stack([match_rate(domain, np.repeat(s[None], len(domain.latents), 0), step, fills)
                      for s in subsets], 1)
    return subsets, rates


def _row_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over rows (digits) of the Pearson correlation between a reward model's scores of every mask and the
    masks' true expected agreement (rows where either is constant are skipped; NaN if all are)."""
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    ok = den > 0
    return float(((a * b).sum(1)[ok] / den[ok]).mean()) if ok.any() else float("nan")  # NaN: one allowed mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, type=Path, help="directory with digits_models.pt")
    ap.add_argument("--budgets", default="0.5,0.7")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--fills", type=int, default=16, help="fresh fills per digit for agree_exp")
    ap.add_argument("--entropy", type=float, default=None, help="override PICOConfig.entropy (ablation)")
    ap.add_argument("--passes", type=int, default=8, help="PICOConfig.passes (masks collected per digit per round)")
    ap.add_argument("--perceptual-passes", type=int, default=None, help="the baseline's passes (default: --passes)")
    ap.add_argument("--informative-kl", type=float, default=PICOConfig.informative_kl,
                    help="PICOConfig.informative_kl (nats per latent; 0: unrestricted compressors)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--cache", type=Path, help="trained PICO models (default: OUT's stem + _models beside it)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.thread_time()
    vae, clf = load_digits_models(args.models)
    x_train, _, x_test, _ = load_digits_split()
    train, test = digits_domain(x_train, vae, clf), digits_domain(x_test, vae, clf)
    base = PICOConfig(rounds=2, passes=args.passes, disc_epochs=20, reward_epochs=20, comp_epochs=20,
                      informative_kl=args.informative_kl)
    if args.entropy is not None:
        base = replace(base, entropy=args.entropy)
    kl = train.block_kl  # KL(q(z_i | x) || N(0, 1)) per latent, mean over the training digits
    informative = informative_blocks(kl, base.informative_kl, train.num_blocks)
    cache = args.cache or args.out.parent / (args.out.stem + "_models")
    rows, summary = [], []
    for budget in (float(b) for b in args.budgets.split(",")):
        k = round(budget * test.num_blocks)
        if abs(k - budget * test.num_blocks) > 1e-9:
            raise SystemExit(f"--budgets: {budget} x {test.num_blocks} blocks is not a whole k (needed for the oracle)")
        subsets, test_rates = subset_rates(test, k, base.step, args.fills)
        _, train_rates = subset_rates(train, k, base.step, args.fills)
        best_fixed = int(train_rates.mean(0).argmax())
        allowed = (subsets[:, informative].sum(1) == min(k, informative.sum())) & (
            (subsets & ~informative).sum(1) == max(k - informative.sum(), 0))
        random_all, random_inf = test_rates.mean(1), test_rates[:, allowed].mean(1)
        ref = {"budget": budget, "best_fixed_mask": np.flatnonzero(subsets[best_fixed]).tolist(),
               "best_fixed_agree_exp": float(test_rates[:, best_fixed].mean()),
               "oracle_agree_exp": float(test_rates.max(1).mean()),
               "random_agree_exp": mean_se(random_all), "random_informative_agree_exp": mean_se(random_inf),
               "allowed_subsets": int(allowed.sum())}
        print(json.dumps(ref), flush=True)
        per_seed = []
        for seed in (int(s) for s in args.seeds.split(",")):
            res = {}
            for method in ("pico", "perceptual"):
                passes = args.passes if method == "pico" else (args.perceptual_passes or args.passes)
                cfg = replace(base, budget=budget, seed=seed, passes=passes,
                              objective="agreement" if method == "pico" else "perceptual")
                name = (f"{method}_{budget:g}_s{seed}" + ("" if passes == 8 else f"_p{passes}")
                        + ("" if cfg.informative_kl == PICOConfig.informative_kl else f"_kl{cfg.informative_kl:g}"))
                model = train_or_load(cache / name, train, cfg)
                masks = model.masks(test.features, np.random.default_rng(seed))
                fill = received_latents(test, masks, base.step)
                with torch.no_grad():
                    r_hat = model.reward.over_masks(torch.as_tensor(test.features), torch.as_tensor(subsets)).numpy()
                if not np.array_equal(model.informative, informative):
                    raise SystemExit(f"{name}: trained with informative blocks {model.informative.tolist()}, "
                                     f"expected {informative.tolist()}")
                res[method] = {
                    # R is trained (and queried) on the allowed masks only: its argmax and ranking among them
                    "r_argmax": test_rates[:, allowed][np.arange(len(r_hat)), r_hat[:, allowed].argmax(1)],
                    "r_corr": _row_corr(r_hat[:, allowed], test_rates[:, allowed]),
                    "fill": (test.user_probs(fill).argmax(1) == test.user_actions).astype(float),
                    "exp": match_rate(test, masks, base.step, args.fills),
                    "train_exp": match_rate(train, model.masks(train.features, np.random.default_rng(seed)),
                                            base.step, args.fills),
                    "usage": mask_usage(masks)}
            row = {"budget": budget, "seed": seed}
            for method, r in res.items():
                row.update({f"{method}_agree_fill": float(r["fill"].mean()), f"{method}_agree_exp": float(r["exp"].mean()),
                            f"{method}_train_agree_exp": float(r["train_exp"].mean()),
                            f"{method}_masks": r["usage"]["distinct_masks"],
                            f"{method}_r_argmax_agree_exp": float(r["r_argmax"].mean()),
                            f"{method}_r_corr": r["r_corr"],
                            f"{method}_mask_entropy": r["usage"]["mask_entropy_bits"]})
            for key in ("fill", "exp"):
                m, se = mean_se(res["pico"][key] - res["perceptual"][key])
                row[f"diff_{key}"], row[f"diff_{key}_se"] = m, se
            row["diff_train_exp"] = float(res["pico"]["train_exp"].mean() - res["perceptual"]["train_exp"].mean())
            print(json.dumps(row), flush=True)
            rows.append(row)
            per_seed.append(row)
        agg = dict(ref)
        for key in ("pico_agree_fill", "perceptual_agree_fill", "pico_agree_exp", "perceptual_agree_exp",
                    "pico_train_agree_exp", "perceptual_train_agree_exp", "diff_fill", "diff_exp", "diff_train_exp",
                    "pico_masks", "perceptual_masks", "pico_r_argmax_agree_exp", "perceptual_r_argmax_agree_exp",
                    "pico_r_corr", "perceptual_r_corr"):
            agg[key], agg[key + "_se_seeds"] = mean_se(np.array([r[key] for r in per_seed]))
        agg["seeds"] = len(per_seed)
        print(json.dumps(agg), flush=True)
        summary.append(agg)
    meta = {"models": str(args.models), "fills": args.fills, "config": base.__dict__, "kl_per_latent": kl.tolist(),
            "informative": informative.tolist(),
            "perceptual_passes": args.perceptual_passes or args.passes,
            "thread_cpu_s": time.thread_time() - t0, "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
