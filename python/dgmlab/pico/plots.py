"""Figures: agreement vs bits per observation (one line per method), and image galleries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_agreement", "plot_gallery"]

_STYLE = {"pico": ("PICO", "C0", "o"), "perceptual": ("perceptual", "C1", "s"), "random": ("non-adaptive", "C2", "^"),
          "jpeg": ("JPEG", "C3", "v"), "webp": ("WebP", "C4", "D"), "pico_rate": ("PICO rate-aware", "C5", "*")}


def plot_agreement(rows: list[dict], path: str | Path, title: str, metrics: tuple[str, ...] = ("prob", "argmax"),
                   ceiling: dict[str, float] | None = None) -> None:
    """One panel per agreement metric; x = bits per observation (log scale), error bars = standard errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = sorted((r for r in rows if r["method"] == method), key=lambda r: r["bits_per_obs"])
            label, color, marker = _STYLE.get(method, (method, None, "x"))
            ax.errorbar([r["bits_per_obs"] for r in sel], [r[f"agree_{metric}"] for r in sel],
                        yerr=[r[f"agree_{metric}_se"] for r in sel], label=label, color=color, marker=marker,
                        capsize=2, ms=4)
        if ceiling and metric in ceiling:
            ax.axhline(ceiling[metric], color="k", ls=":", lw=1, label="uncompressed")
        ax.set_xscale("log")
        ax.set_xlabel("bits per observation (real bitstream)")
        ax.set_ylabel(f"action agreement ({'mean probability' if metric == 'prob' else 'argmax match'})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gallery(rows_of_images: list[np.ndarray], row_titles: list[str], path: str | Path,
                 col_titles: list[str] | None = None) -> None:
    """A grid: one row per array of images (n, h, w) or (n, h, w, 3), same n in every row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows_of_images[0])
    fig, axes = plt.subplots(len(rows_of_images), n, figsize=(0.9 * n + 1.5, 1.0 * len(rows_of_images)),
                             squeeze=False)
    for r, (images, title) in enumerate(zip(rows_of_images, row_titles)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray_r" if images[c].ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, fontsize=7, rotation=0, ha="right", va="center")
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(summary: list[dict], path: str | Path) -> None:
    """Closed-loop score (mean ± std over tracks) vs bits per frame, one line per method and coder (dashed: the
    MDN-RNN predictive code), the uncompressed score as a ceiling line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method, code in dict.fromkeys((r["method"], r.get("code")) for r in summary):
        sel = sorted((r for r in summary if (r["method"], r.get("code")) == (method, code)),
                     key=lambda r: r["bits_per_frame"])
        if method == "uncompressed":
            ax.axhline(sel[0]["score_mean"], color="k", ls=":", label="uncompressed (ceiling)")
            continue
        label, color, marker = _STYLE.get(method, (method, None, "x"))
        predictive = code == "predictive"  # the same drives, kept latents coded under the MDN-RNN: fewer bits
        ax.errorbar([r["bits_per_frame"] for r in sel], [r["score_mean"] for r in sel],
                    yerr=[r["score_std"] for r in sel], label=label + (" (MDN-RNN code)" if predictive else ""),
                    color=color, marker=marker, capsize=3, ls="--" if predictive else "-", mfc="none" if predictive
                    else color)
    ax.set_xlabel("bits per frame (real bitstream)")
    ax.set_ylabel("episode score (mean ± std over tracks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
