"""Figures 2.1 (normalised score vs number of expert trajectories) and 2.2 (causal entropy lambda sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dgmlab.imitation.benchmark import summarize

_LABELS = {"bc": "Behavioral cloning", "fem": "FEM", "gtal": "GTAL", "gail": "GAIL (ours)"}


def _errorband(ax: Any, summary: dict, keys: list[tuple], label: str) -> None:
    """Mean +- std over seeds against dataset size for the summary cells ``keys`` (env, algo, size, lambda)."""
    xs = [k[2] for k in keys]
    stats = [summary[k] for k in keys]
    means = [s[0] for s in stats]
    stds = [s[1] for s in stats]
    ax.plot(xs, means, marker="o", label=label)
    ax.fill_between(xs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)], alpha=0.2)


def _save(fig: Any, axes: Any, path: str | Path) -> Path:
    """Shared labels and legend, then write the PNG."""
    for ax in axes[0]:
        ax.set_xlabel("Number of trajectories in dataset")
    axes[0][0].set_ylabel("Performance (scaled)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_figure_2_1(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """One panel per environment: mean +- std over seeds of each algorithm's score (lambda = smallest value)."""
    summary = summarize(rows)
    envs = sorted({k[0] for k in summary})
    fig, axes = plt.subplots(1, max(1, len(envs)), figsize=(4 * max(1, len(envs)), 3.4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        coef = min(k[3] for k in summary if k[0] == env)
        for algo, label in _LABELS.items():
            keys = sorted(k for k in summary if k[0] == env and k[1] == algo and k[3] == coef)
            if keys:
                _errorband(ax, summary, keys, label)
        ax.axhline(1.0, color="k", lw=0.5, ls="--")
        ax.axhline(0.0, color="k", lw=0.5, ls=":")
        ax.set_title(env)
    return _save(fig, axes, path)


def plot_lambda_sweep(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """GAIL's score for each causal entropy lambda (Figure 2.2), with BC for reference, one panel per env."""
    summary = summarize(rows)
    envs = sorted({k[0] for k in summary if k[1] == "gail"})
    fig, axes = plt.subplots(1, max(1, len(envs)), figsize=(4.5 * max(1, len(envs)), 3.4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for coef in sorted({k[3] for k in summary if k[0] == env and k[1] == "gail"}):
            keys = sorted(k for k in summary if k[0] == env and k[1] == "gail" and k[3] == coef)
            _errorband(ax, summary, keys, f"GAIL, lambda={coef:g}")
        keys = sorted(k for k in summary if k[0] == env and k[1] == "bc")
        if keys:
            _errorband(ax, summary, keys, _LABELS["bc"])
        ax.set_title(env)
    return _save(fig, axes, path)
