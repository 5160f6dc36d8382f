"""The digits experiment: PICO vs non-adaptive vs perceptual vs JPEG / WebP, agreement vs real bits per digit.

Writes to ``out/``: ``results.json`` / ``results.csv`` (one row per method and budget or quality), ``paired.json``
/ ``.csv`` (PICO minus perceptual and minus non-adaptive agreement per budget, paired over the same test digits),
``agreement.png``, ``gallery.png`` (originals beside PICO and non-adaptive reconstructions at one budget; column titles: the digit the
classifier reads in each row),
the digits models and one PICO model directory per (objective, budget), which re-runs load instead of retraining.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dgmlab.pico.bitstream import LatentCode
from dgmlab.pico.core import PICO, PICOConfig
from dgmlab.pico.digits import (
    DigitsConfig,
    classify,
    digits_domain,
    load_digits_split,
    reconstruct,
    train_digits_models,
)
from dgmlab.pico.evaluate import (
    agreement,
    evaluate_masks,
    paired_difference,
    sweep,
    train_or_load,
    write_rows,
)
from dgmlab.pico.image_codecs import CODECS, codec_roundtrip

__all__ = ["run_digits"]


def _codec_rows(x_test: np.ndarray, original_probs: np.ndarray, clf, qualities: list[int]) -> list[dict]:
    images = np.round(x_test.reshape(-1, 8, 8) * 255).astype(np.uint8)
    rows = []
    for codec in CODECS:
        for q in qualities:
            decoded, bits = codec_roundtrip(images, codec, q)
            shown = decoded.reshape(-1, 64).astype(np.float32) / 255
            row = {"method": codec, "quality": q, "bits_per_obs": bits, "mae": float(np.abs(shown - x_test).mean())}
            row.update(agreement(original_probs, classify(clf, shown)))
            rows.append(row)
    return rows


def run_digits(out: str | Path, budgets: list[float], base: PICOConfig, digits_cfg: DigitsConfig,
               qualities: list[int], rate_lambdas: list[float] = (), progress: bool = True,
               gallery_budget: float | None = None) -> list[dict]:
    """The whole digits experiment (see module docstring); returns the result rows.

    The gallery shows PICO at ``gallery_budget`` (one of ``budgets``; default the median budget).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vae, clf = train_digits_models(out / "models", digits_cfg)
    x_train, _, x_test, _ = load_digits_split(digits_cfg.test_fraction, digits_cfg.seed)
    train, test = digits_domain(x_train, vae, clf), digits_domain(x_test, vae, clf)

    def model_for(method: str, budget: float) -> PICO | None:
        if method == "random":
            return None
        cfg = replace(base, budget=budget, objective="agreement" if method == "pico" else "perceptual")
        return train_or_load(out / "models" / f"{method}_{budget:g}", train, cfg, progress)

    log = (lambda r: print(f"{r['method']:>10} rho={r['budget']:.3f} bits={r['bits_per_obs']:7.2f} "
                           f"agree={r['agree_argmax']:.3f}", flush=True)) if progress else (lambda r: None)
    rows = sweep(test, list(budgets), base.step, model_for, log=log, seed=base.seed)
    pico_vs = [paired_difference(test, b, base.step, ("pico", model_for("pico", b)), (other, model_for(other, b)),
                                 base.seed) for b in budgets for other in ("perceptual", "random")]
    write_rows(pico_vs, out, "paired")
    for lam in rate_lambdas:
        cfg = replace(base, rate_lambda=lam, budget=0.5)
        model = train_or_load(out / "models" / f"pico_rate_{lam:g}", train, cfg, progress)
        row = {"method": "pico_rate", "lambda": lam, **evaluate_masks(test, model.masks(test.features,
               np.random.default_rng(base.seed)), _rate_code(test, base.step, model))[0]}
        log({**row, "budget": row["blocks_kept"] / test.num_blocks})
        rows.append(row)
    rows += _codec_rows(x_test, test.original_probs, clf, qualities)
    write_rows(rows, out)
    ceiling = agreement(test.original_probs, test.user_probs(test.latents))
    from dgmlab.pico.plots import plot_agreement

    plot_agreement(rows, out / "agreement.png", "digits: classifier agreement vs bits",
                   ceiling={"prob": ceiling["agree_prob"], "argmax": ceiling["agree_argmax"]})
    g = sorted(budgets)[len(budgets) // 2] if gallery_budget is None else gallery_budget
    _gallery(test, x_test, vae, clf, model_for("pico", g), g, base.step, out / "gallery.png")
    return rows


def _rate_code(domain, step: float, model: PICO) -> LatentCode:
    return LatentCode(domain.block_size, step, None, model.priority)


def _gallery(test, x_test, vae, clf, model: PICO, budget: float, step: float, path: Path, n: int = 12) -> None:
    from dgmlab.pico.masking import budget_to_k, random_mask
    from dgmlab.pico.plots import plot_gallery

    rng = np.random.default_rng(0)
    code = LatentCode(test.block_size, step, budget)
    _, z_pico = evaluate_masks(test, model.masks(test.features, rng), code)
    k = budget_to_k(budget, test.num_blocks, rng, len(x_test))
    _, z_rand = evaluate_masks(test, random_mask(len(k), test.num_blocks, k, rng), code)
    labels = test.user_actions
    idx = np.array([np.flatnonzero(labels == d)[0] for d in range(10) if np.any(labels == d)][:n])
    rows = [x_test[idx], reconstruct(vae, test.latents[idx]), reconstruct(vae, z_pico[idx]),
            reconstruct(vae, z_rand[idx])]
    read = [classify(clf, r).argmax(1) for r in rows]
    titles = ["original", "VAE (all latents)", f"PICO rho={budget:g}", f"non-adaptive rho={budget:g}"]
    cols = [" ".join(str(int(r[i])) for r in read) for i in range(len(idx))]
    plot_gallery([r.reshape(-1, 8, 8) for r in rows], titles, path, col_titles=cols)
