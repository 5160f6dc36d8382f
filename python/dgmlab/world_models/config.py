"""Typed configs for every World Models stage, with the paper's defaults (Ha & Schmidhuber 2018 / the write-up).

``PipelineConfig.preset("paper" | "small" | "tiny")`` returns a whole run; each config is saved as JSON beside the
artefacts it produced and read back with :meth:`PipelineConfig.from_json` (unknown keys are an error).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class CollectConfig:
    episodes: int = 10000
    """Episodes to record (the paper: 10,000 random rollouts)."""
    max_steps: int = 1000
    """Frames per episode at most (the paper's horizon)."""
    policy: str = "brownian"
    """``white`` (i.i.d. uniform actions), ``brownian`` (correlated random walk) or ``controller`` (a trained agent)."""
    seed: int = 0
    """Base seed; episode i uses track seed ``seed + i``."""
    fast_env: bool = True
    """Use the pixel-identical fast renderer (``env.FastCarRacing``)."""


@dataclass
class VAEConfig:
    z_dim: int = 32
    """Latent size."""
    kl_tolerance: float = 0.5
    """KL is floored at ``kl_tolerance * z_dim`` nats per image (free bits)."""
    lr: float = 1e-4
    """Adam learning rate."""
    batch_size: int = 100
    """Frames per batch."""
    epochs: int = 10
    """Passes over the frames."""
    shuffle_episodes: int = 64
    """Episodes held in the streaming shuffle buffer."""
    seed: int = 0
    """torch seed."""


@dataclass
class RNNConfig:
    hidden: int = 256
    """LSTM units."""
    mixtures: int = 5
    """Gaussians per latent dimension."""
    seq_len: int = 999
    """Training sequence length (the paper: 999 steps, 1000-frame episodes)."""
    batch_size: int = 100
    """Sequences per batch."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    epochs: int = 20
    """Passes over the episodes; z is re-sampled from (mu, log var) every epoch."""
    temperature: float = 1.0
    """Sampling temperature tau for dreams."""
    seed: int = 0
    """torch seed."""


@dataclass
class ControllerConfig:
    use_hidden: bool = True
    """Controller sees [z, h] (867 parameters); False gives the z-only controller (99 parameters)."""
    popsize: int = 64
    """CMA-ES population."""
    rollouts: int = 16
    """Rollouts per candidate, averaged."""
    sigma0: float = 0.1
    """Initial CMA-ES step size."""
    weight_decay: float = 0.01
    """Fitness = mean return - weight_decay * mean(theta^2)."""
    generations: int = 300
    """Generations to run."""
    max_steps: int = 1000
    """Frames per training rollout."""
    eval_every: int = 25
    """Re-evaluate the best candidate every N generations ..."""
    eval_rollouts: int = 64
    """... on this many fresh tracks."""
    workers: int = 0
    """Rollout processes (0: all cores)."""
    timeout_s: float = 600.0
    """A rollout running longer is killed and retried."""
    retries: int = 2
    """Attempts after the first before the generation fails."""
    dream: bool = False
    """Train inside the MDN-RNN (dream) instead of the real environment."""
    batch_envs: int = 0
    """Rollouts stepped together in one worker with batched VAE/LSTM/controller calls (``vector.py``; 0: one
    rollout per worker task). Used for training, re-evaluation and the final evaluation."""
    patience: int = 0
    """Training rollouts end after this many frames without a new road tile, charged the remaining time penalty
    (``CarRacingEnv(patience=)``; 0: never). Evaluation always runs full episodes."""
    seed: int = 0
    """CMA-ES and track seeds."""


@dataclass
class EvalConfig:
    episodes: int = 100
    """Random tracks for the final score (the paper: 100)."""
    max_steps: int = 1000
    """Frames per evaluation episode."""
    seed: int = 1_000_000
    """First evaluation track seed (disjoint from training seeds)."""


@dataclass
class PipelineConfig:
    collect: CollectConfig = field(default_factory=CollectConfig)
    """Random-policy data collection."""
    vae: VAEConfig = field(default_factory=VAEConfig)
    """Vision."""
    rnn: RNNConfig = field(default_factory=RNNConfig)
    """Memory."""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    """Controller and CMA-ES."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Final evaluation."""
    zonly_generations: int = 0
    """If > 0, also train a z-only controller for this many generations as the paper's comparison."""

    @classmethod
    def preset(cls, name: str) -> PipelineConfig:
        """``paper`` (the write-up's settings), ``small`` (a shared 2-core box, ~2 h) or ``tiny`` (tests, seconds)."""
        if name not in PRESETS:
            raise ValueError(f"config: unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls.from_dict(PRESETS[name])

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}
        subs = {"collect": CollectConfig, "vae": VAEConfig, "rnn": RNNConfig, "controller": ControllerConfig,
                "eval": EvalConfig}
        unknown = set(data) - set(kinds)
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}; expected {sorted(kinds)}")
        args = {k: (_sub(subs[k], v, k) if k in subs else v) for k, v in data.items()}
        return cls(**args)

    @classmethod
    def from_json(cls, path: str | Path) -> PipelineConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _sub(kind: type, data: dict[str, Any], name: str) -> Any:
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"config.{name}: unknown keys {sorted(unknown)}; expected {sorted(names)}")
    return kind(**data)


def load_config(spec: str) -> PipelineConfig:
    """A preset name or a path to a JSON file written by :meth:`PipelineConfig.to_json`."""
    if Path(spec).suffix == ".json":
        if not Path(spec).is_file():
            raise FileNotFoundError(f"config: {spec} does not exist; pass a preset (paper/small/tiny) or a JSON file")
        return PipelineConfig.from_json(spec)
    return PipelineConfig.preset(spec)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"zonly_generations": 300},
    # ~2 h of a shared 2-core box (README "The small run"): CMA-ES on 16 vectorised rollouts of <= 500 frames
    # per generation in one worker process, stalled cars cut after 60 frames without a new tile.
    "small": {
        "collect": {"episodes": 40, "max_steps": 300},
        "vae": {"epochs": 2},
        "rnn": {"seq_len": 299, "batch_size": 8, "epochs": 30},
        "controller": {"popsize": 16, "rollouts": 1, "generations": 36, "max_steps": 500, "eval_every": 10,
                       "eval_rollouts": 4, "workers": 1, "timeout_s": 300.0, "batch_envs": 16, "patience": 60},
        "zonly_generations": 5,
    },
    "tiny": {
        "collect": {"episodes": 3, "max_steps": 24},
        "vae": {"z_dim": 8, "epochs": 1, "batch_size": 16},
        "rnn": {"hidden": 16, "mixtures": 2, "seq_len": 12, "batch_size": 3, "epochs": 2},
        "controller": {"popsize": 4, "rollouts": 1, "generations": 2, "max_steps": 10, "eval_every": 1,
                       "eval_rollouts": 1, "workers": 2, "timeout_s": 120.0, "batch_envs": 2, "patience": 5},
        "eval": {"episodes": 2, "max_steps": 10},
    },
}
"""Each preset's differences from the paper's defaults, in the layout of ``config.json``."""
