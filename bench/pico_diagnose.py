"""Why PICO's fixed-budget compressor collapsed to one mask on digits, and what fixed it: an ablation at one budget.

    PYTHONPATH=python python bench/pico_diagnose.py --models runs/pico_digits/models --budget 0.3 \
        --out bench/results/pico_digits/diagnose.json

Trains PICO (the sweep's settings: ``dgmlab pico digits`` defaults) four ways on the digits domain, crossing the
compressor update (``relaxed``: the original's sigmoid relaxation; ``subsets``: exact expectation over k-subsets with
an entropy bonus) with the receiver's fill while collecting (one fixed prior draw per training digit, or a fresh draw
per pass), and reports per round on the 360 test digits: argmax agreement, how many distinct masks the compressor
uses and the entropy of their distribution, each block's keep rate, the spread of the compressor's logits, the share
of saturated relaxed-mask entries (``relaxed``) or the policy's entropy (``subsets``), and the agreement of R's own
per-digit argmax over all masks. Also the headroom: the best single mask (chosen on the training digits) against
per-digit masks chosen with the true user (by the mean over 8 other fills, so the choice cannot see the test fill).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dgmlab.pico.bitstream import LatentCode
from dgmlab.pico.core import PICO, PICOConfig, received_latents
from dgmlab.pico.digits import digits_domain, load_digits_models, load_digits_split
from dgmlab.pico.evaluate import evaluate_masks
from dgmlab.pico.masking import candidate_subsets, mask_usage, relaxed_mask


def _truth(domain, subsets: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """(N, C): does the user's action on x_hat under each fixed mask match its action on x (one fill draw)."""
    out = np.zeros((len(domain.latents), len(subsets)))
    for j, s in enumerate(subsets):
        z = received_latents(domain, np.repeat(s[None], len(domain.latents), 0), 0.25, rng)
        out[:, j] = domain.user_probs(z).argmax(1) == domain.user_actions
    return out


def _round_stats(model: PICO, test, subsets: np.ndarray, budget: float) -> dict:
    code = LatentCode(test.block_size, model.cfg.step, budget)
    masks = model.masks(test.features, np.random.default_rng(0))
    metrics = evaluate_masks(test, masks, code)[0]
    x = torch.as_tensor(test.features)
    with torch.no_grad():
        logits = model.compressor(x)
        relaxed = relaxed_mask(logits, budget * test.num_blocks, model.cfg.temperature)
        r_best = subsets[model.reward.over_masks(x, torch.as_tensor(subsets)).argmax(1).numpy()]
    h = model.history
    return {"agree_argmax": metrics["agree_argmax"], "agree_argmax_se": metrics["agree_argmax_se"],
            **mask_usage(masks), "logit_spread": float((logits.max(1).values - logits.min(1).values).mean()),
            "relaxed_saturated_share": float(((relaxed < 0.01) | (relaxed > 0.99)).float().mean()),
            "policy_entropy_bits_last_epoch": h["comp_entropy"][-1] if h["comp_entropy"] else None,
            "r_argmax_agree": evaluate_masks(test, r_best, code)[0]["agree_argmax"],
            "r_argmax_distinct_masks": mask_usage(r_best)["distinct_masks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True,
                        help="digits models directory (dgmlab pico digits --out X writes X/models)")
    parser.add_argument("--budget", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--informative-kl", type=float, default=0.0,
                        help="PICOConfig.informative_kl (default 0: every latent, as the README's table was measured)")
    parser.add_argument("--out", type=Path, required=True, help="JSON of the results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.thread_time()
    vae, clf = load_digits_models(args.models)
    x_train, _, x_test, _ = load_digits_split()
    test = digits_domain(x_test, vae, clf)
    k = round(args.budget * test.num_blocks)
    subsets = candidate_subsets(test.num_blocks, k, 10**6, np.random.default_rng(0))

    train_truth = _truth(digits_domain(x_train, vae, clf), subsets)
    test_truth = _truth(test, subsets)
    other_fills = np.mean([_truth(test, subsets, np.random.default_rng(100 + i)) for i in range(8)], 0)
    fixed = int(train_truth.mean(0).argmax())
    result = {"budget": args.budget, "k": k, "headroom": {
        "best_fixed_mask": subsets[fixed].astype(int).tolist(),
        "best_fixed_mask_agree": float(test_truth[:, fixed].mean()),
        "per_digit_oracle_agree": float(test_truth[np.arange(len(test_truth)), other_fills.argmax(1)].mean())},
        "runs": []}
    print(json.dumps(result["headroom"]), flush=True)
    base = PICOConfig(budget=args.budget, passes=args.passes, informative_kl=args.informative_kl)
    for update in ("relaxed", "subsets"):
        for fresh in (False, True):
            train = digits_domain(x_train, vae, clf)
            if not fresh:
                train.fill_draw = None  # every pass sees the same prior draw for each training digit
            model = PICO.for_domain(train, replace(base, update=update, rounds=args.rounds))
            rounds: list[dict] = []
            model.fit(train, after_round=lambda r: rounds.append(_round_stats(model, test, subsets, args.budget)))
            run = {"update": update, "fresh_fills": fresh, "rounds": rounds}
            print(json.dumps(run), flush=True)
            result["runs"].append(run)
    result["thread_cpu_s"] = time.thread_time() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
