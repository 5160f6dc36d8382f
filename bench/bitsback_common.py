"""Shared by the bench/bitsback_*.py scripts: the model, the held-out patches, run metadata and the JSON output."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

import dgmlab
from dgmlab.data.registry import load_images
from dgmlab.flows.compress import load_coding_model, tile_image


def sample_patches(model_spec: str, data: str, limit: int, seed: int = 0, split: str = "heldout"):
    """(coding model, (limit, 3, P, P) int64 patches drawn at random from the tiles of ``split``'s images)."""
    cm = load_coding_model(model_spec)
    patch = cm.model.config.image_size
    tiles = np.concatenate([tile_image(np.asarray(img), patch) for img in load_images(data, split)])
    pick = np.random.default_rng(seed).choice(len(tiles), size=min(limit, len(tiles)), replace=False)
    return cm, tiles[np.sort(pick)].astype(np.int64)


def run_info(threads: int) -> dict:
    torch.set_num_threads(threads)
    return {"dgmlab": dgmlab.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": threads,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_average": os.getloadavg()}


def write_result(path: str, result: dict, hide: tuple[str, ...] = ()) -> None:
    """Write ``result`` as JSON to ``path`` and print it without the keys in ``hide`` (long per-item lists)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in hide}, indent=2))
