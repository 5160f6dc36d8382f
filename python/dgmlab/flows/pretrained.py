"""Bundled Flow++ models, trained on this project's CPU machines and shipped in ``dgmlab/flows/pretrained``.

Each model is ``<name>.pt`` (EMA state_dict) + ``<name>.json`` (config, training data, command, compute and the
measured held-out bits/dim); loading runs no code from the files.
"""

from __future__ import annotations

from pathlib import Path

from dgmlab.flows.model import FlowPlusPlus, load_model

BUNDLED: dict[str, str] = {"natural": "natural", "car-racing": "car_racing"}
ROOT = Path(__file__).with_name("pretrained")


def load_pretrained(name: str, device: str = "cpu") -> FlowPlusPlus:
    """Load a bundled model in eval mode; ``model.meta`` holds its JSON description."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; choose one of {sorted(BUNDLED)}")
    path = ROOT / f"{BUNDLED[name]}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"bundled model file missing: {path} (reinstall dgmlab)")
    model, meta = load_model(path, device)
    model.meta = meta
    return model
