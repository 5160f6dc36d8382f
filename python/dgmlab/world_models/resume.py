"""Epoch checkpoints shared by the VAE and MDN-RNN training loops: ``NAME.pt`` (written by the caller's own saver),
``NAME_opt.pt`` and ``NAME_state.json`` (epochs done) in the output folder, so a killed run resumes at its last
finished epoch."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def load_epoch_state(out: Path, name: str, model: torch.nn.Module, opt: torch.optim.Optimizer) -> int:
    """Epochs already finished in ``out`` (0 for a new run); loads the model and optimizer state if there are any."""
    state_file = out / f"{name}_state.json"
    if not (state_file.is_file() and (out / f"{name}.pt").is_file()):
        return 0
    model.load_state_dict(torch.load(out / f"{name}.pt", weights_only=True))
    opt.load_state_dict(torch.load(out / f"{name}_opt.pt", weights_only=True))
    return json.loads(state_file.read_text())["epochs_done"]


def save_epoch_state(out: Path, name: str, opt: torch.optim.Optimizer, epochs_done: int) -> None:
    """Record the optimizer and the epoch count, after the caller has saved ``NAME.pt``."""
    torch.save(opt.state_dict(), out / f"{name}_opt.pt")
    (out / f"{name}_state.json").write_text(json.dumps({"epochs_done": epochs_done}))
