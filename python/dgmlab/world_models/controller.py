"""Controller: a linear map from [z, h] to (steer, gas, brake) with the original action squashing.

With z = 32 and h = 256: (32 + 256) * 3 + 3 = 867 parameters; the z-only controller has 32 * 3 + 3 = 99.
"""

from __future__ import annotations

import numpy as np

ACTION_DIM = 3


def n_params(z_dim: int, hidden: int, use_hidden: bool = True) -> int:
    """Number of controller parameters for an input of z (and h)."""
    return (z_dim + (hidden if use_hidden else 0)) * ACTION_DIM + ACTION_DIM


class Controller:
    """``act(z, h)``: steer = tanh(.), gas = (tanh(.) + 1) / 2, brake = clip(tanh(.), 0, 1)."""

    def __init__(self, params: np.ndarray, z_dim: int, hidden: int, use_hidden: bool = True) -> None:
        params = np.asarray(params, dtype=np.float64)
        expected = n_params(z_dim, hidden, use_hidden)
        if params.shape != (expected,):
            raise ValueError(f"controller params: expected shape ({expected},), got {params.shape}")
        if not np.all(np.isfinite(params)):
            raise ValueError("controller params contain NaN/inf")
        self.in_dim = expected // ACTION_DIM - 1
        self.weight = params[: self.in_dim * ACTION_DIM].reshape(ACTION_DIM, self.in_dim)
        self.bias = params[self.in_dim * ACTION_DIM:]
        self.use_hidden = use_hidden

    def act(self, z: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        x = np.concatenate([z, h]) if self.use_hidden else np.asarray(z)
        if x.shape != (self.in_dim,):
            raise ValueError(f"controller input: expected {self.in_dim} features, got {x.shape}")
        a = np.tanh(self.weight @ x + self.bias)
        return np.array([a[0], (a[1] + 1.0) / 2.0, np.clip(a[2], 0.0, 1.0)])
