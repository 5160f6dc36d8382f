"""VAE and MDN losses on hand-checked inputs, sampling, NaN guards, kill-and-resume, controller shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dgmlab.world_models.mdn_rnn as mdn_rnn_module
from dgmlab.world_models.config import RNNConfig
from dgmlab.world_models.controller import Controller, n_params
from dgmlab.world_models.mdn_rnn import MDNRNN, mdn_nll, sample_mdn, train_rnn
from dgmlab.world_models.resume import load_epoch_state
from dgmlab.world_models.storage import save_npz_atomic
from dgmlab.world_models.vae import ConvVAE, vae_loss


def test_vae_shapes():
    vae = ConvVAE(32)
    recon, mu, logvar = vae(torch.rand(2, 3, 64, 64))
    assert recon.shape == (2, 3, 64, 64) and mu.shape == logvar.shape == (2, 32)
    assert 0 <= recon.min() and recon.max() <= 1


def test_vae_loss_hand_checked():
    x = torch.full((2, 3, 64, 64), 0.5)
    mu, logvar = torch.zeros(2, 32), torch.zeros(2, 32)
    total, rec, kl = vae_loss(x, x.clone(), mu, logvar, kl_tolerance=0.5)
    assert rec.item() == 0 and kl.item() == 0 and total.item() == pytest.approx(16.0)  # floor 0.5 * 32
    mu = torch.full((2, 32), 2.0)  # KL = 0.5 * mu^2 per dim = 2 * 32 = 64 > floor
    total, rec, kl = vae_loss(x, x + 0.1, mu, logvar, kl_tolerance=0.5)
    assert kl.item() == pytest.approx(64.0)
    assert rec.item() == pytest.approx(0.01 * 3 * 64 * 64, rel=1e-5)
    assert total.item() == pytest.approx(rec.item() + 64.0, rel=1e-6)


def test_mdn_nll_gaussian_kernel():
    z = torch.zeros(1, 1, 4)
    params = torch.zeros(1, 1, 4, 1)
    assert mdn_nll(z, params, params, params).item() == pytest.approx(0.5 * math.log(2 * math.pi))
    # two components: N(0,1) and N(3, e^-1) with weights softmax([0, log 3]) = (1/4, 3/4) at target 1
    logit = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)
    mu = torch.tensor([0.0, 3.0]).view(1, 1, 1, 2)
    ls = torch.tensor([0.0, -1.0]).view(1, 1, 1, 2)
    pdf = lambda x, m, s: math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    expected = -math.log(0.25 * pdf(1, 0, 1) + 0.75 * pdf(1, 3, math.exp(-1)))
    assert mdn_nll(torch.ones(1, 1, 1), logit, mu, ls).item() == pytest.approx(expected, rel=1e-5)
    far = mdn_nll(torch.full((1, 1, 1), 1e4), logit, mu, ls)
    assert torch.isfinite(far) and far.item() > 1e6  # log-sum-exp: huge but finite, never inf/NaN


def test_sample_mdn_temperature():
    logit = torch.tensor([10.0, -10.0]).expand(1, 500, 3, 2).contiguous()
    mu = torch.tensor([1.0, -5.0]).expand(1, 500, 3, 2)
    ls = torch.full((1, 500, 3, 2), math.log(0.5))
    gen = torch.Generator().manual_seed(0)
    cold = sample_mdn(logit, mu, ls, 0.01, gen)
    hot = sample_mdn(logit, mu, ls, 1.0, gen)
    assert abs(cold.mean().item() - 1) < 0.01 and cold.std().item() < 0.06
    assert abs(hot.std().item() - 0.5) < 0.05
    with pytest.raises(ValueError, match="temperature"):
        sample_mdn(logit, mu, ls, 0.0)


def test_mdn_rnn_output_shapes():
    rnn = MDNRNN(z_dim=8, hidden=16, mixtures=3)
    logit, mu, ls, r, d, (h, c) = rnn(torch.zeros(2, 5, 8), torch.zeros(2, 5, 3))
    assert logit.shape == mu.shape == ls.shape == (2, 5, 8, 3) and r.shape == d.shape == (2, 5)
    assert h.shape == c.shape == (1, 2, 16)


def test_rnn_training_refuses_nan(tmp_path):
    n = 10
    mu = np.zeros((n, 4), np.float32)
    mu[3, 1] = np.nan
    save_npz_atomic(tmp_path / "lat" / "ep_000000.npz", mu=mu, logvar=np.zeros((n, 4), np.float32),
                    action=np.zeros((n, 3), np.float32), reward=np.zeros(n, np.float32), done=np.zeros(n, bool),
                    seed=np.int64(0))
    cfg = RNNConfig(hidden=8, mixtures=2, seq_len=5, batch_size=1, epochs=1)
    with pytest.raises(FloatingPointError, match="not training on NaN"):
        train_rnn(tmp_path / "lat", tmp_path / "rnn", cfg)


def test_controller_size_and_action_ranges():
    assert n_params(32, 256) == 867 and n_params(32, 256, use_hidden=False) == 99
    rng = np.random.default_rng(0)
    ctrl = Controller(rng.normal(0, 5, 867), 32, 256)
    for _ in range(200):
        a = ctrl.act(rng.normal(0, 3, 32), rng.normal(0, 1, 256))
        assert -1 <= a[0] <= 1 and 0 <= a[1] <= 1 and 0 <= a[2] <= 1
    zonly = Controller(np.zeros(99), 32, 256, use_hidden=False)
    assert np.allclose(zonly.act(np.ones(32)), [0.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="expected shape"):
        Controller(np.zeros(100), 32, 256)


def test_dream_env_runs_and_is_seeded():
    from dgmlab.world_models.dream import DreamEnv

    torch.manual_seed(0)
    rnn = MDNRNN(z_dim=4, hidden=8, mixtures=2).eval()
    env = DreamEnv(rnn, np.zeros((3, 4), np.float32), temperature=1.2, max_steps=15)

    def play(seed: int) -> list[float]:
        (z, h), done, rewards = env.reset(seed), False, []
        assert z.shape == (4,) and h.shape == (8,)
        while not done:
            (z, h), r, done = env.step(np.array([0.0, 1.0, 0.0]))
            rewards.append(r)
        return rewards

    first = play(5)
    assert 1 <= len(first) <= 15 and np.all(np.isfinite(first))
    assert play(5) == first  # same seed, same dream
    with pytest.raises(ValueError, match="initial_z"):
        DreamEnv(rnn, np.zeros((3, 5), np.float32))


def test_rnn_killed_between_epoch_and_commit_resumes_identically(tmp_path, monkeypatch):
    """A kill after an epoch's metrics and public rnn.pt were written but before its commit loses nothing: the
    re-run repeats that epoch from the committed state and ends with the uninterrupted run's weights and CSV."""
    rng = np.random.default_rng(0)
    for ep in range(3):
        n = 12
        save_npz_atomic(tmp_path / "lat" / f"ep_{ep:06d}.npz", mu=rng.normal(size=(n, 4)).astype(np.float32),
                        logvar=np.full((n, 4), -2.0, np.float32), action=rng.normal(size=(n, 3)).astype(np.float32),
                        reward=np.zeros(n, np.float32), done=np.zeros(n, bool), seed=np.int64(ep))
    cfg = RNNConfig(hidden=8, mixtures=2, seq_len=5, batch_size=2, epochs=3)
    whole = train_rnn(tmp_path / "lat", tmp_path / "whole", cfg)

    commit = mdn_rnn_module.save_epoch_state

    def killed_at_second_commit(out, name, model, opt, epochs_done):
        if epochs_done == 2:
            raise KeyboardInterrupt
        commit(out, name, model, opt, epochs_done)

    monkeypatch.setattr(mdn_rnn_module, "save_epoch_state", killed_at_second_commit)
    with pytest.raises(KeyboardInterrupt):
        train_rnn(tmp_path / "lat", tmp_path / "killed", cfg)
    monkeypatch.setattr(mdn_rnn_module, "save_epoch_state", commit)
    resumed = train_rnn(tmp_path / "lat", tmp_path / "killed", cfg)

    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
    assert (tmp_path / "killed" / "rnn_metrics.csv").read_text() == (tmp_path / "whole" / "rnn_metrics.csv").read_text()
    on_disk = torch.load(tmp_path / "killed" / "rnn.pt", weights_only=True)
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(on_disk[key], value, rtol=0, atol=0)


def test_unreadable_resume_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "rnn_resume.pt").write_bytes(b"not a checkpoint")
    model = MDNRNN(4, 8, 2)
    with pytest.raises(RuntimeError, match="delete it to restart"):
        load_epoch_state(tmp_path, "rnn", model, torch.optim.Adam(model.parameters()), tmp_path / "m.csv")
