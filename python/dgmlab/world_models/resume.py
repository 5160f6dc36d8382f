"""Epoch checkpoints shared by the VAE and MDN-RNN training loops.

After each epoch a loop appends its metric rows, rewrites its public ``NAME.pt``, then commits ``NAME_resume.pt``
(model, optimizer and epochs done in one file, replaced atomically). A run killed at any point resumes from the last
committed epoch with a model and optimizer that belong together; the metric rows of an uncommitted epoch are dropped
before it is re-run, and a public ``NAME.pt`` written ahead of its commit is rewritten by the re-run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from dgmlab.world_models.logs import drop_rows_from


def load_epoch_state(out: Path, name: str, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     metrics: Path) -> int:
    """Epochs already committed in ``out`` (0 for a new run), loading model and optimizer state if there are any."""
    resume = out / f"{name}_resume.pt"
    if resume.is_file():
        try:
            state = torch.load(resume, weights_only=True)
        except Exception as exc:  # a checkpoint is only ever replaced whole, so this is damage from outside
            raise RuntimeError(f"{resume} is unreadable ({exc}); delete it to restart this stage from scratch") from exc
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        done = int(state["epochs_done"])
    elif (out / f"{name}_state.json").is_file():  # runs written before NAME_resume.pt existed
        model.load_state_dict(torch.load(out / f"{name}.pt", weights_only=True))
        opt.load_state_dict(torch.load(out / f"{name}_opt.pt", weights_only=True))
        done = json.loads((out / f"{name}_state.json").read_text())["epochs_done"]
    else:
        done = 0
    drop_rows_from(metrics, "epoch", done)
    return done


def save_epoch_state(out: Path, name: str, model: torch.nn.Module, opt: torch.optim.Optimizer,
                     epochs_done: int) -> None:
    """Commit the epoch: model, optimizer and count in ``NAME_resume.pt``, written aside and renamed into place."""
    tmp = out / f".{name}_resume.pt.tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epochs_done": epochs_done}, tmp)
    os.replace(tmp, out / f"{name}_resume.pt")
