"""Shared fixtures: a hand-written CartPole expert (no training needed) and its demonstrations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab.imitation.demos import Demonstrations, sample_demonstrations


def cartpole_expert(obs: np.ndarray) -> np.ndarray:
    """Push toward the side the pole falls to (angle + 0.5 * angular velocity); scores 500 on CartPole-v1."""
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def cartpole_demos() -> Demonstrations:
    return sample_demonstrations(cartpole_expert, "CartPole-v1", 4, seed=0)


@pytest.fixture(scope="session")
def demos_file(tmp_path_factory: pytest.TempPathFactory, cartpole_demos: Demonstrations) -> str:
    return str(cartpole_demos.save(tmp_path_factory.mktemp("demos") / "CartPole-v1.npz"))
