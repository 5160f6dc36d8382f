"""Training Flow++ on 8-bit images: Adam with warm-up, EMA (Polyak) weights, gradient clipping, resumable
checkpoints, CSV metrics, PNG sample grids and loss curves.

A run lives in one folder: ``config.json`` (this TrainConfig + the model config), ``checkpoint.pt`` (model, EMA,
optimizer, step, RNG states: re-running the same command resumes exactly), ``metrics.csv``, ``samples.png``,
``loss.png`` and ``model.pt`` / ``model.json`` (the EMA weights, loadable by :func:`dgmlab.flows.load_model`).
With a validation split (``val``, cut from the training images) it also keeps ``best.pt`` / ``best.json``: the EMA
weights with the lowest validation bits/dim so far (early stopping; ``patience`` ends the run when it stalls).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dgmlab.data.augment import augment, check_augmentation
from dgmlab.data.patches import check_crop_weighting, random_crops
from dgmlab.data.registry import load_images
from dgmlab.data.validation import split_validation
from dgmlab.flows.couplings import Coupling
from dgmlab.flows.model import FlowConfig, FlowPlusPlus, load_model, named_config

RESUME_MAY_CHANGE = ("steps", "threads", "eval_every", "checkpoint_every", "patience")
METRIC_FIELDS = ("step", "train_bpd", "val_bpd", "heldout_bpd", "lr", "grad_norm", "seconds")


@dataclass
class TrainConfig:
    """One training run."""

    data: str = "natural"
    """Dataset spec (see :mod:`dgmlab.data.registry`)."""
    heldout: str | None = None
    """Held-out dataset spec; default: ``data``'s held-out split (none for ``folder`` / ``imagenet``)."""
    model: str = "small"
    """Named model config (``tiny``, ``small``, ``cifar10``)."""
    overrides: dict = field(default_factory=dict)
    """FlowConfig fields to override, e.g. ``{"coupling": "affine"}``."""
    steps: int = 2000
    """Optimizer steps in total."""
    batch_size: int = 16
    """Random crops of ``image_size`` per step."""
    lr: float = 1e-3
    """Peak Adam learning rate."""
    warmup: int = 200
    """Linear warm-up steps."""
    cosine: bool = True
    """Decay the learning rate to 0 at ``steps`` with a half cosine after warm-up."""
    grad_clip: float = 100.0
    """Clip the global gradient norm to this."""
    ema: float = 0.999
    """Polyak averaging decay of the evaluation weights (ramped up as ``min(ema, (1 + t) / (10 + t))``)."""
    seed: int = 0
    """Seed for init, crops and dequantization noise."""
    eval_every: int = 250
    """Steps between held-out evaluations (EMA weights)."""
    eval_images: int = 64
    """Held-out images in each periodic evaluation (whole images, a fixed evenly spaced subset); 0: none (report
    only; nothing is selected on the held-out images)."""
    val: str | None = None
    """Validation split cut from the training images, evaluated every ``eval_every`` steps to keep the best EMA
    weights in ``best.pt``: ``strip:F`` or ``sources:A,B`` (see :mod:`dgmlab.data.validation`)."""
    val_images: int = 64
    """Validation tiles (``image_size`` squares, a fixed evenly spaced subset)."""
    patience: int = 0
    """Stop after this many validation evaluations without a new best (0: train all ``steps``)."""
    augment: str = "none"
    """Training-crop augmentation: ``none`` or parts such as ``flip-rot+zoom+gain+jpeg`` (:mod:`dgmlab.data.augment`)."""
    crop_weighting: str = "area"
    """How a training crop picks its image: ``area`` (proportional to its area) or ``image`` (uniformly)."""
    checkpoint_every: int = 100
    """Steps between checkpoints."""
    init_batch: int = 256
    """Crops in the data-dependent initialisation batch (large, so rare colours do not blow up actnorm scales)."""
    threads: int = 0
    """torch CPU threads (0: torch's default)."""
    init_from: str | None = None
    """Start from the weights of a saved model (``model.pt`` of a run, or a bundled model name) instead of the
    data-dependent initialisation: fine-tuning on new data or crops. Its config must equal this run's except for
    ``image_size`` (the ``small`` / ``tiny`` configs are size-independent)."""


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if not cfg.cosine:
        return cfg.lr
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 NHWC -> float NCHW in ``[0, 255]``."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()


class Trainer:
    """Owns model, EMA copy, optimizer and RNGs of a run folder; :meth:`run` trains until ``steps`` or a time limit."""

    def __init__(self, cfg: TrainConfig, out: str | Path, device: str = "cpu"):
        self.cfg, self.out, self.device = cfg, Path(out), torch.device(device)
        self.out.mkdir(parents=True, exist_ok=True)
        self.model_cfg = named_config(cfg.model, **cfg.overrides)
        torch.manual_seed(cfg.seed)
        self.model = FlowPlusPlus(self.model_cfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.rng = np.random.default_rng(cfg.seed)
        self.noise = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.step = 0
        self.best_val, self.best_step = math.inf, 0
        self.train_images = _as_list(load_images(cfg.data, "train"))
        self.val: np.ndarray | None = None
        if cfg.val:
            self.train_images, self.val = split_validation(
                self.train_images, cfg.val, cfg.data, self.model_cfg.image_size, cfg.val_images
            )
        check_augmentation(cfg.augment)  # before any training, not at the first batch
        check_crop_weighting(cfg.crop_weighting, "crop_weighting")
        self.heldout = self._heldout_images()
        self._write_config()

    def _heldout_images(self) -> np.ndarray | None:
        spec = self.cfg.heldout or (
            self.cfg.data if self.cfg.data.split(":")[0] in ("natural", "car-racing", "cifar10") else None
        )
        if spec is None or self.cfg.eval_images == 0:
            return None
        images = np.asarray(load_images(spec, "heldout"))
        idx = np.linspace(0, len(images) - 1, min(self.cfg.eval_images, len(images))).astype(int)
        return images[idx]

    def _write_config(self) -> None:
        cfg = json.loads(
            json.dumps({"train": dataclasses.asdict(self.cfg), "model": self.model_cfg.to_json()})
        )
        path = self.out / "config.json"
        if path.exists():
            old = json.loads(path.read_text())
            # a run started before a field existed ran with its default
            old["train"] = {**dataclasses.asdict(TrainConfig()), **old["train"]}
            for key in RESUME_MAY_CHANGE:  # a resumed run may be extended or re-threaded
                old["train"].pop(key, None)
            if old != {
                "train": {k: v for k, v in cfg["train"].items() if k not in RESUME_MAY_CHANGE},
                "model": cfg["model"],
            }:
                raise ValueError(f"{path} belongs to a different run; use another output folder or delete it")
        path.write_text(json.dumps(cfg, indent=2) + "\n")

    def batch(self, size: int | None = None) -> torch.Tensor:
        crops = random_crops(
            self.train_images, self.model_cfg.image_size, size or self.cfg.batch_size, self.rng,
            self.cfg.crop_weighting,
        )
        return to_tensor(augment(crops, self.cfg.augment, self.rng), self.device)

    def train_step(self) -> tuple[float, float]:
        """One optimizer step; returns ``(train bits/dim, gradient norm)``."""
        if self.step == 0:
            if self.cfg.init_from:
                self.model.load_state_dict(_initial_weights(self.cfg.init_from, self.model_cfg))
                _separate_components(self.model)
            else:
                self.model.initialize(self.batch(self.cfg.init_batch))
            self.ema.load_state_dict(self.model.state_dict())
        x = self.batch()
        for group in self.opt.param_groups:
            group["lr"] = _lr(self.cfg, self.step)
        loss = self.model.bits_per_dim(x, self.noise).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        self.opt.step()
        decay = min(self.cfg.ema, (1 + self.step) / (10 + self.step))  # warm-up: early weights fade quickly
        with torch.no_grad():
            for e, p in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
                e.copy_(e * decay + p * (1 - decay) if e.is_floating_point() else p)
        self.step += 1
        return loss.item(), grad_norm

    @torch.no_grad()
    def evaluate(self, images: np.ndarray | None = None) -> float:
        """Bits/dim (one-sample variational bound) of the EMA model on ``images`` (default: the held-out subset),
        with fixed dequantization noise so successive evaluations are comparable."""
        images = self.heldout if images is None else images
        gen = torch.Generator(device=self.device).manual_seed(12345)
        bpd = [
            self.ema.bits_per_dim(to_tensor(chunk, self.device), gen)
            for chunk in np.array_split(images, max(1, len(images) // 16))
        ]
        return float(torch.cat(bpd).mean())

    def validate(self) -> float:
        """Validation bits/dim of the EMA weights; a new best is written to ``best.pt`` at once."""
        bpd = self.evaluate(self.val)
        if bpd < self.best_val:
            self.best_val, self.best_step = bpd, self.step
            self.ema.save(
                self.out / "best.pt",
                {"step": self.step, "val_bpd": bpd, "val": self.cfg.val, "train": dataclasses.asdict(self.cfg)},
            )
        return bpd

    def stalled(self) -> bool:
        """Whether ``patience`` validations in a row brought no new best."""
        return bool(
            self.val is not None
            and self.cfg.patience
            and self.step - self.best_step >= self.cfg.patience * self.cfg.eval_every
        )

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "best_val": self.best_val,
            "best_step": self.best_step,
            "rng": json.dumps(self.rng.bit_generator.state),
            "noise": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self) -> None:
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(self.state(), tmp)
        tmp.replace(self.out / "checkpoint.pt")
        self.ema.save(self.out / "model.pt", {"step": self.step, "train": dataclasses.asdict(self.cfg)})

    def load_checkpoint(self) -> bool:
        """Resume from ``checkpoint.pt`` if present; returns whether it did."""
        path = self.out / "checkpoint.pt"
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.best_val, self.best_step = float(state.get("best_val", math.inf)), int(state.get("best_step", 0))
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.noise.set_state(state["noise"])
        torch.set_rng_state(state["torch_rng"])
        return True

    def run(self, time_limit: float | None = None, progress: bool = True) -> Path:
        """Train until ``cfg.steps`` (or ``time_limit`` seconds), checkpointing; returns the run folder."""
        resumed = self.load_checkpoint()
        metrics = self.out / "metrics.csv"
        if resumed and metrics.exists():
            truncate_metrics(metrics, self.step)
        else:
            metrics.write_text(",".join(METRIC_FIELDS) + "\n")
        start = time.monotonic()
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not progress, desc="flows train")
        while self.step < self.cfg.steps and not self.stalled():
            loss, grad_norm = self.train_step()
            row = {
                "step": self.step,
                "train_bpd": f"{loss:.5f}",
                "val_bpd": "",
                "heldout_bpd": "",
                "lr": f"{_lr(self.cfg, self.step - 1):.3g}",
                "grad_norm": f"{grad_norm:.4g}",
                "seconds": f"{time.monotonic() - start:.1f}",
            }
            last = self.step == self.cfg.steps
            if self.val is not None and (self.step % self.cfg.eval_every == 0 or last):
                row["val_bpd"] = f"{self.validate():.5f}"
            if self.heldout is not None and (self.step % self.cfg.eval_every == 0 or last):
                row["heldout_bpd"] = f"{self.evaluate():.5f}"
            with open(metrics, "a", newline="") as f:
                csv.DictWriter(f, METRIC_FIELDS).writerow(row)
            bar.update(1)
            bar.set_postfix(bpd=f"{loss:.3f}", val=row["val_bpd"] or "-", heldout=row["heldout_bpd"] or "-")
            out_of_time = time_limit is not None and time.monotonic() - start > time_limit
            if self.step % self.cfg.checkpoint_every == 0 or last or out_of_time or self.stalled():
                self.save_checkpoint()
                self.plots()
            if out_of_time:
                break
        bar.close()
        return self.out

    def plots(self) -> None:
        """``loss.png`` (train and held-out bits/dim) and ``samples.png`` (EMA samples)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from dgmlab.flows.sample import save_grid

        with open(self.out / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([int(r["step"]) for r in rows], [float(r["train_bpd"]) for r in rows], lw=0.5, label="train")
        for column, label in (("val_bpd", "validation (EMA)"), ("heldout_bpd", "held-out (EMA)")):
            points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
            if points:
                ax.plot(*zip(*points), "o-", label=label)
        ax.set(xlabel="step", ylabel="bits/dim", title=self.out.name)
        ax.legend()
        fig.savefig(self.out / "loss.png", dpi=100)
        plt.close(fig)
        gen = torch.Generator(device=self.device).manual_seed(0)
        save_grid(self.ema.sample(16, generator=gen), self.out / "samples.png")


def _initial_weights(source: str, cfg: FlowConfig) -> dict:
    """The state_dict of a bundled model name or saved ``.pt``, checked against ``cfg`` (``image_size`` aside)."""
    from dgmlab.flows.pretrained import model_path

    model, _ = load_model(model_path(source))  # validates the files and the config
    theirs = dataclasses.replace(model.config, image_size=cfg.image_size).to_json()
    diff = sorted(k for k, v in cfg.to_json().items() if theirs[k] != v)
    if diff:
        raise ValueError(f"init_from {source!r}: its model config differs from this run's in {diff}")
    return model.state_dict()


def _separate_components(model: torch.nn.Module) -> None:
    """Spread the means of mixture couplings whose components are identical (weights from before the fix), so
    fine-tuning can learn a mixture instead of keeping one logistic per coupling."""
    stuck = [m for m in model.modules() if isinstance(m, Coupling) and m.components_identical()]
    for coupling in stuck:
        coupling.spread_means()
    if stuck:
        tqdm.write(f"init_from: {len(stuck)} mixture couplings had identical components; their means were spread")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics rows logged after ``step`` (written after the checkpoint a run resumes from)."""
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [row for row in lines[1:] if int(row.split(",")[0]) <= step]
    path.write_text("\n".join(kept) + "\n")


def _as_list(images: list[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    return list(images) if isinstance(images, list) else [im for im in images]


def train(
    cfg: TrainConfig,
    out: str | Path,
    device: str = "cpu",
    time_limit: float | None = None,
    progress: bool = True,
) -> Path:
    """Train (or resume) a run in ``out``; see :class:`TrainConfig`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return Trainer(cfg, out, device).run(time_limit, progress)
