"""Agreement vs real bits: compress a test set through the bitstream, decode it, let the user act on the result.

Agreement of the user's action on the reconstruction x_hat with its action on the original x (a* = argmax on x):
``prob`` = mean of p_user(a* | x_hat), ``argmax`` = share of observations with argmax p_user(. | x_hat) = a*,
each with its standard error over observations. Bits per observation are ``8 * len(bitstream) / N``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dgmlab.pico.bitstream import LatentCode, decode, encode
from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.domain import Domain
from dgmlab.pico.masking import budget_to_k, check_budget, informative_blocks, mask_usage, random_mask

__all__ = ["agreement", "evaluate_masks", "evaluate_method", "mean_se", "paired_difference", "sweep", "train_or_load",
           "write_rows"]


def mean_se(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(se)


def agreement(original_probs: np.ndarray, shown_probs: np.ndarray) -> dict[str, float]:
    """Mean probability and argmax agreement (± standard errors) of the user's action on x_hat with that on x."""
    target = original_probs.argmax(1)
    prob = shown_probs[np.arange(len(target)), target]
    match = (shown_probs.argmax(1) == target).astype(np.float64)
    (p, p_se), (m, m_se) = mean_se(prob), mean_se(match)
    return {"agree_prob": p, "agree_prob_se": p_se, "agree_argmax": m, "agree_argmax_se": m_se}


def evaluate_masks(domain: Domain, masks: np.ndarray, code: LatentCode) -> tuple[dict[str, float], np.ndarray]:
    """Encode the kept latents, decode the bytes, fill, let the user act: (metrics, received latents)."""
    data = encode(domain.latents, masks, code, domain.code_mean, domain.code_std)
    out = decode(data, domain.code_mean, domain.code_std)
    if not np.array_equal(out.mask, masks):
        raise RuntimeError("bitstream round trip changed the mask (a coder bug)")
    z = domain.fill(out.values)
    metrics = {"bits_per_obs": 8.0 * len(data) / len(masks), "bytes": len(data),
               "blocks_kept": float(masks.sum(1).mean()), **mask_usage(masks),
               "mae": float(domain.distortion(z).mean())}
    metrics.update(agreement(domain.original_probs, domain.user_probs(z)))
    metrics.update({k: float(np.mean(v)) for k, v in domain.extra_metrics(z).items()})
    return metrics, z


def _method_masks(domain: Domain, method: str, budget: float, step: float, model: PICO | None,
                  seed: int) -> tuple[np.ndarray, LatentCode]:
    """The masks ``method`` sends at ``budget`` (seeded, so every call gives the same ones) and their code."""
    check_budget(budget)
    rng = np.random.default_rng(seed)
    if method == "random":
        k = budget_to_k(budget, domain.num_blocks, rng, len(domain.latents))
        masks = random_mask(len(k), domain.num_blocks, k, rng)
        code = LatentCode(domain.block_size, step, budget)
    elif model is not None:
        masks, _ = domain.run_policy(lambda f: model.masks(f, rng))
        code = LatentCode(domain.block_size, step, None if model.cfg.rate_lambda > 0 else budget, model.priority)
    else:
        raise ValueError(f"method {method!r} needs a trained PICO model")
    return masks, code


def evaluate_method(domain: Domain, method: str, budget: float, step: float, model: PICO | None = None,
                    seed: int = 0) -> dict[str, float]:
    """Metrics of ``method`` (``pico``, ``perceptual``: need ``model``; ``random``: non-adaptive) at ``budget``."""
    metrics, _ = evaluate_masks(domain, *_method_masks(domain, method, budget, step, model, seed))
    return {"method": method, "budget": budget, "step": step, **metrics}


def paired_difference(domain: Domain, budget: float, step: float, a: tuple[str, PICO | None],
                      b: tuple[str, PICO | None], seed: int = 0) -> dict[str, float | str]:
    """Agreement of method ``a`` minus that of ``b`` (each a (method, model) pair) on the same observations, with
    the standard error of the per-observation difference (tighter than comparing two means' error bars)."""
    shown = []
    for method, model in (a, b):
        z = evaluate_masks(domain, *_method_masks(domain, method, budget, step, model, seed))[1]
        shown.append(domain.user_probs(z))
    target = domain.user_actions
    rows = np.arange(len(target))
    diff_prob = shown[0][rows, target] - shown[1][rows, target]
    diff_match = (shown[0].argmax(1) == target).astype(float) - (shown[1].argmax(1) == target)
    (p, p_se), (m, m_se) = mean_se(diff_prob), mean_se(diff_match)
    return {"a": a[0], "b": b[0], "budget": budget, "diff_argmax": m, "diff_argmax_se": m_se, "diff_prob": p,
            "diff_prob_se": p_se}


def sweep(domain: Domain, budgets: list[float], step: float, train: Callable[[str, float], PICO | None],
          methods: tuple[str, ...] = ("pico", "random", "perceptual"), seed: int = 0,
          log: Callable[[dict], None] = print) -> list[dict]:
    """Every method at every budget; ``train(method, budget)`` returns its trained model (None for ``random``)."""
    rows = []
    for budget in budgets:
        for method in methods:
            row = evaluate_method(domain, method, budget, step, train(method, budget), seed)
            log(row)
            rows.append(row)
    return rows


def train_or_load(path: Path, domain, cfg: PICOConfig, progress: bool = False) -> PICO:
    """The PICO model saved in ``path`` if it was trained with ``cfg``, else a new one fit on ``domain``.

    ``informative_kl`` only enters training through the informative blocks it selects, so a saved model whose
    set equals the one ``cfg`` selects on ``domain`` counts as trained with ``cfg`` (models saved before the
    setting existed used every block).
    """
    meta = path / "pico.json"
    if meta.is_file():
        saved = json.loads(meta.read_text())
        want = {k: v for k, v in asdict(cfg).items() if k != "informative_kl"}
        same_blocks = saved.get("informative", [True] * domain.num_blocks) == informative_blocks(
            domain.block_kl, cfg.informative_kl, domain.num_blocks).tolist()
        if {k: v for k, v in saved["config"].items() if k != "informative_kl"} == want and same_blocks:
            return PICO.load(path)
    model = PICO.for_domain(domain, cfg).fit(domain, progress=progress)
    model.save(path)
    return model


def write_rows(rows: list[dict], out: Path, name: str = "results") -> None:
    """``out/NAME.json`` and ``out/NAME.csv``."""
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
