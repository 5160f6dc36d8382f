"""Human users: export queries to label, a keyboard labeller for the terminal, and CSV label ingest for training.

The pipeline is the simulated-user one with the user's actions read from a CSV instead of computed:

1. ``export_queries``: for N observations, the original image and ``passes`` reconstructions under masks from the
   current compressor (or random ones), saved as ``queries.npz``; every image gets a query id.
2. Someone labels them: ``label_terminal`` (one image at a time as text art, one key per action; resumable), or any
   outside tool that writes ``query_id,action`` rows.
3. ``read_labels`` checks the CSV (every id labelled once, actions in range) and ``train_on_labels`` runs a PICO
   round on it: labels on originals are the positives, labels on reconstructions the negatives.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dgmlab.pico.core import PICO, received_latents
from dgmlab.pico.domain import Domain
from dgmlab.pico.masking import budget_to_k, random_mask

__all__ = ["ascii_image", "export_queries", "label_terminal", "read_labels", "train_on_labels"]

_RAMP = " .:-=+*#%@"


def export_queries(domain: Domain, render: Callable[[np.ndarray], np.ndarray], model: PICO | None, budget: float,
                   passes: int, path: str | Path, seed: int = 0) -> int:
    """Write ``path`` (.npz): images (Q, h, w) in [0, 1] to label, with the masks behind them; returns Q.

    Query q < N is original q; query N * (1 + p) + i is observation i under mask pass p.
    ``render`` maps latents (M, L) to images; the originals are rendered from the encoder means.
    """
    rng = np.random.default_rng(seed)
    n = len(domain.features)
    masks = []
    for _ in range(passes):
        if model is None:
            masks.append(random_mask(n, domain.num_blocks, budget_to_k(budget, domain.num_blocks, rng, n), rng))
        else:
            masks.append(model.masks(domain.features, rng))
    masks = np.concatenate(masks) if masks else np.zeros((0, domain.num_blocks), bool)
    shown = [received_latents(domain, masks[p * n:(p + 1) * n], model.cfg.step if model else 0.25)
             for p in range(passes)]
    images = np.concatenate([render(domain.latents)] + [render(z) for z in shown])
    np.savez(path, images=images, masks=masks, features=domain.features, n=np.int64(n),
             num_actions=np.int64(domain.num_actions), block_size=np.int64(domain.block_size),
             budget=np.float64(budget))
    return len(images)


def read_labels(path: str | Path, num_queries: int, num_actions: int) -> np.ndarray:
    """Actions (num_queries,) from a ``query_id,action`` CSV; ``ValueError`` naming the first problem found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labels file {path} not found")
    actions = np.full(num_queries, -1, np.int64)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"query_id", "action"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with columns query_id,action, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                q, a = int(row["query_id"]), int(row["action"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: query_id and action must be integers, got {row}") from None
            if not 0 <= q < num_queries:
                raise ValueError(f"{path}:{line}: query_id {q} outside 0..{num_queries - 1}")
            if not 0 <= a < num_actions:
                raise ValueError(f"{path}:{line}: action {a} outside 0..{num_actions - 1}")
            if actions[q] >= 0:
                raise ValueError(f"{path}:{line}: query {q} is labelled twice")
            actions[q] = a
    missing = np.flatnonzero(actions < 0)
    if len(missing):
        raise ValueError(f"{path}: {len(missing)} of {num_queries} queries have no label (first: {missing[:5]}); "
                         f"finish labelling (dgmlab pico label) before training")
    return actions


def ascii_image(image: np.ndarray) -> str:
    """A grayscale image in [0, 1] as text art, two characters per pixel."""
    levels = np.clip((np.asarray(image) * (len(_RAMP) - 1)).round().astype(int), 0, len(_RAMP) - 1)
    return "\n".join("".join(_RAMP[v] * 2 for v in row) for row in levels)


def label_terminal(queries: str | Path, labels: str | Path, read: Callable[[str], str] | None = None,
                   show: Callable[[str], None] = print) -> int:
    """Ask for an action per unlabelled query (a number; ``q`` stops); appends to ``labels``; returns how many
    were labelled now. Re-running continues where it stopped. Queries are shown in a shuffled order.
    ``read`` defaults to :func:`input` (the keyboard)."""
    read = read or input
    with np.load(queries) as q:
        images, num_actions = q["images"], int(q["num_actions"])
    labels = Path(labels)
    done = set()
    if labels.is_file():
        with open(labels, newline="") as f:
            done = {int(r["query_id"]) for r in csv.DictReader(f)}
    else:
        labels.write_text("query_id,action\n")
    count = 0
    for qid in np.random.default_rng(0).permutation(len(images)):
        if int(qid) in done:
            continue
        show(ascii_image(images[qid]))
        while True:
            key = read(f"[{len(done) + count + 1}/{len(images)}] action 0..{num_actions - 1} (q quits): ").strip()
            if key == "q":
                return count
            if key.isdigit() and int(key) < num_actions:
                break
            show(f"not an action: {key!r}")
        with open(labels, "a") as f:
            f.write(f"{int(qid)},{int(key)}\n")
        count += 1
    return count


def train_on_labels(model: PICO, queries: str | Path, labels: str | Path) -> PICO:
    """One PICO round (D -> R -> compressor) on human labels; returns the model."""
    if model.cfg.objective != "agreement":
        raise ValueError("human labels train the agreement objective; got a perceptual-objective model")
    if model.cfg.discriminator != "categorical":
        raise ValueError("human labels are discrete actions: the model needs discriminator='categorical'")
    with np.load(queries) as q:
        masks, features, n = q["masks"], q["features"], int(q["n"])
        num_queries = len(q["images"])
    actions = read_labels(labels, num_queries, model.shape["num_actions"])
    data = {"mask": masks, "action": actions[n:], "mae": np.zeros(len(masks))}
    model.train_round(features, actions[:n], data, model.shape["block_size"])
    return model
