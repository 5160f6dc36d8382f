"""Bundled Flow++ models, trained on this project's CPU machines and shipped in ``dgmlab/flows/pretrained``.

Each model is ``<name>.pt`` (EMA state_dict) + ``<name>.json`` (config, training data, command, compute and the
measured held-out bits/dim); loading runs no code from the files.
"""

from __future__ import annotations

from pathlib import Path

from dgmlab.flows.model import FlowPlusPlus, load_model

BUNDLED: dict[str, str] = {"natural": "natural", "car-racing": "car_racing"}
ROOT = Path(__file__).with_name("pretrained")


def model_path(spec: str) -> Path:
    """The ``.pt`` file named by ``spec``: a bundled model name or a checkpoint written by ``FlowPlusPlus.save``
    (its ``.json`` beside it). The one resolver behind ``--model``, ``--init-from`` and :func:`load_pretrained`."""
    if spec in BUNDLED:
        path = ROOT / f"{BUNDLED[spec]}.pt"
        if not (path.is_file() and path.with_suffix(".json").is_file()):
            raise ValueError(f"bundled model {spec!r} is missing from this install ({path} or its .json); "
                             "reinstall dgmlab or pass a checkpoint .pt")
        return path
    path = Path(spec)
    if not (path.is_file() and path.with_suffix(".json").is_file()):
        raise ValueError(f"model {spec!r}: expected a bundled name ({', '.join(sorted(BUNDLED))}) or a checkpoint "
                         ".pt with its .json beside it")
    return path


def load_pretrained(name: str, device: str = "cpu") -> FlowPlusPlus:
    """Load a bundled model in eval mode; ``model.meta`` holds its JSON description."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; choose one of {sorted(BUNDLED)}")
    model, meta = load_model(model_path(name), device)
    model.meta = meta
    return model
