"""Vectorised rollouts give the sequential agent's returns; stalled-episode cuts charge the right penalty."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgmlab.world_models.config import RNNConfig, VAEConfig
from dgmlab.world_models.controller import Controller, n_params
from dgmlab.world_models.env import CarRacingEnv
from dgmlab.world_models.executors import LocalExecutor
from dgmlab.world_models.mdn_rnn import MDNRNN, save_rnn
from dgmlab.world_models.rollout import AgentSpec, RolloutTask, agent_return
from dgmlab.world_models.vae import ConvVAE, save_vae
from dgmlab.world_models.vector import VectorTask, batched_actions, map_rollouts, vector_returns

Z, HIDDEN = 8, 16


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with small, randomly initialised V and M models (what the agent loads)."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    (root / "vae").mkdir()
    (root / "rnn").mkdir()
    save_vae(ConvVAE(Z), root / "vae" / "vae.pt", VAEConfig(z_dim=Z))
    save_rnn(MDNRNN(Z, HIDDEN, 2), root / "rnn" / "rnn.pt", RNNConfig(hidden=HIDDEN, mixtures=2))
    return root


def _params(k: int, use_hidden: bool, seed: int = 0) -> np.ndarray:
    p = np.random.default_rng(seed).normal(0.0, 0.3, (k, n_params(Z, HIDDEN, use_hidden)))
    p[:, -2] += 1.0  # gas bias: the cars drive, steer differently and collect different rewards
    return p


def test_batched_actions_match_controller():
    params = _params(5, True)
    x = np.random.default_rng(1).normal(size=(5, Z + HIDDEN))
    in_dim = Z + HIDDEN
    got = batched_actions(params[:, :3 * in_dim].reshape(5, 3, in_dim), params[:, 3 * in_dim:], x)
    want = np.stack([Controller(p, Z, HIDDEN).act(xi[:Z], xi[Z:]) for p, xi in zip(params, x)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("use_hidden", [True, False])
def test_vector_returns_equal_sequential_agent(run_dir, use_hidden):
    spec = AgentSpec(str(run_dir), use_hidden, max_steps=40, fast_env=True)
    params, seeds = _params(3, use_hidden), (3, 4, 5)
    sequential = [agent_return(RolloutTask(p, s, spec)) for p, s in zip(params, seeds)]
    vectorised = vector_returns(VectorTask(params, seeds, spec))
    assert len(set(np.round(sequential, 6))) == 3  # different candidates really drive differently
    np.testing.assert_allclose(vectorised, sequential, rtol=0, atol=1e-4)
    # a retry re-seeds every rollout of the chunk, as agent_return does for one
    retried = vector_returns(VectorTask(params[:1], seeds[:1], spec), attempt=1)
    np.testing.assert_allclose(retried, [agent_return(RolloutTask(params[0], seeds[0], spec), 1)], atol=1e-4)


def test_map_rollouts_chunks_keep_order_through_executor(run_dir):
    spec = AgentSpec(str(run_dir), True, max_steps=25, fast_env=True, patience=10)
    params, seeds = _params(5, True, seed=2), [10, 11, 12, 13, 14]
    with_executor = LocalExecutor(2)
    try:
        one_each = map_rollouts(with_executor, params, seeds, spec, batch=0)
        chunked = map_rollouts(with_executor, params, seeds, spec, batch=3)  # chunks of 3 and 2
    finally:
        with_executor.close()
    np.testing.assert_allclose(chunked, one_each, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="2 parameter rows but 3 seeds"):
        map_rollouts(with_executor, params[:2], seeds[:3], spec, batch=3)
    with pytest.raises(ValueError, match="batch must be >= 0"):
        map_rollouts(with_executor, params, seeds, spec, batch=-1)


def test_vector_task_rejects_bad_params(run_dir):
    spec = AgentSpec(str(run_dir), True, max_steps=5)
    with pytest.raises(ValueError, match=r"expected \(2, 75\)"):
        vector_returns(VectorTask(np.zeros((2, 74)), (0, 1), spec))
    with pytest.raises(ValueError, match="NaN"):
        vector_returns(VectorTask(np.full((1, 75), np.nan), (0,), spec))


def test_patience_cut_charges_the_remaining_time_penalty():
    """A car that stands still earns nothing after its first tiles: cutting it must not change its return."""
    still = np.zeros(3)

    def play(patience: int) -> tuple[float, int]:
        env = CarRacingEnv(fast=True, max_steps=80, patience=patience)
        env.reset(7)
        total, done = 0.0, False
        while not done:
            _, reward, done = env.step(still)
            total += reward
        env.close()
        return total, env.t

    full, cut = play(0), play(10)
    assert full[1] == 80 and cut[1] < 30
    assert cut[0] == pytest.approx(full[0], abs=1e-6)
    with pytest.raises(ValueError, match="patience must be >= 0"):
        CarRacingEnv(patience=-1)
