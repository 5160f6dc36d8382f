"""Scoring policies as in Figure 2.1: true return, scaled so that the expert scores 1 and a uniformly random policy 0.

    expert = load_model("expert.zip")
    returns = policy_returns(expert.predict, "CartPole-v1", episodes=50)
    normalized_score(returns.mean(), expert_return=500.0, random_return=22.0)
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dgmlab.imitation.demos import sample_demonstrations

EVAL_SEED_OFFSET = 1_000_000
"""Evaluation episodes use reset seeds from here on, disjoint from demonstration seeds (0, 1, 2, ...)."""


def policy_returns(act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int,
                   seed: int = EVAL_SEED_OFFSET) -> np.ndarray:
    """True undiscounted returns of ``episodes`` episodes of ``act(obs_batch) -> actions``."""
    if episodes < 1:
        raise ValueError(f"episodes: expected >= 1, got {episodes}")
    return sample_demonstrations(act, env_id, episodes, seed).episode_returns


def random_returns(env_id: str, episodes: int, seed: int = EVAL_SEED_OFFSET) -> np.ndarray:
    """Returns of the uniformly random policy (actions from the seeded action space)."""
    space = gym.make(env_id).action_space
    space.seed(seed)
    return policy_returns(lambda obs: np.stack([space.sample() for _ in range(len(obs))]), env_id, episodes, seed)


def normalized_score(value: float | np.ndarray, expert_return: float, random_return: float) -> float | np.ndarray:
    """(value - random) / (expert - random): the y-axis of Figure 2.1."""
    if expert_return == random_return:
        raise ValueError(f"expert_return: must differ from random_return ({random_return})")
    return (value - random_return) / (expert_return - random_return)


def model_class(name: str) -> type:
    """The model class that ``meta.json`` names."""
    from dgmlab.imitation.apprenticeship import Apprenticeship
    from dgmlab.imitation.bc import BC
    from dgmlab.imitation.gail import GAIL
    from dgmlab.imitation.onpolicy import TRPO

    classes = {c.__name__: c for c in (TRPO, GAIL, BC, Apprenticeship)}
    if name not in classes:
        raise ValueError(f"path: saved class {name!r} is not one of {sorted(classes)}")
    return classes[name]


def load_model(path: str | Path, **kwargs: Any) -> Any:
    """Load any saved dgmlab.imitation model (TRPO, GAIL, BC, Apprenticeship), dispatching on its metadata."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no saved model at {str(path)!r}")
    try:
        with zipfile.ZipFile(path) as zf:
            name = json.loads(zf.read("meta.json")).get("class")
    except (zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"path: {str(path)!r} is not a dgmlab.imitation model file") from err
    return model_class(name).load(path, **kwargs)
