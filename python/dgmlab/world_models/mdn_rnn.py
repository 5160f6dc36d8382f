"""Memory: an LSTM over [z_t, a_t] predicting z_{t+1} as a per-dimension mixture of Gaussians (MDN-RNN).

Besides the paper's z head, two small heads predict the reward and the end of the episode so the model can serve
as a dream environment (``dream.py``); their loss weights are small and do not change the z prediction's role.
The mixture log-likelihood uses log-sum-exp with log-scales bounded to [LOG_SIGMA_MIN, LOG_SIGMA_MAX].
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from dgmlab.world_models.config import RNNConfig
from dgmlab.world_models.logs import append_csv
from dgmlab.world_models.resume import load_epoch_state, save_epoch_state
from dgmlab.world_models.storage import LATENT_KEYS, list_episodes, load_episode

LOG_SIGMA_MIN, LOG_SIGMA_MAX = -7.0, 3.0  # keeps exp(-2 log sigma) finite in float32
ACTION_DIM = 3
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MDNRNN(nn.Module):
    """M model: ``forward(z, a, state)`` -> (logit_pi, mu, log_sigma each (B, T, z, K), reward, done_logit, state)."""

    def __init__(self, z_dim: int = 32, hidden: int = 256, mixtures: int = 5) -> None:
        super().__init__()
        self.z_dim, self.hidden, self.mixtures = z_dim, hidden, mixtures
        self.lstm = nn.LSTM(z_dim + ACTION_DIM, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 3 * z_dim * mixtures + 2)

    def forward(self, z: torch.Tensor, a: torch.Tensor, state: tuple | None = None):
        h, state = self.lstm(torch.cat([z, a], -1), state)
        return (*self.split(self.head(h)), state)

    def split(self, out: torch.Tensor):
        b, t = out.shape[:2]
        mdn = out[..., :-2].reshape(b, t, self.z_dim, 3, self.mixtures)
        log_sigma = mdn[..., 2, :].clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        return mdn[..., 0, :], mdn[..., 1, :], log_sigma, out[..., -2], out[..., -1]


def mdn_nll(target: torch.Tensor, logit_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor,
            mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of -log sum_k pi_k N(target | mu_k, sigma_k^2) over elements (where ``mask`` (B, T) is 1).

    target (..., z), params (..., z, K); log-sum-exp over k keeps it finite for far-away targets.
    """
    log_pi = F.log_softmax(logit_pi, -1)
    log_n = -0.5 * ((target.unsqueeze(-1) - mu) * torch.exp(-log_sigma)).pow(2) - log_sigma - LOG_SQRT_2PI
    nll = -torch.logsumexp(log_pi + log_n, -1)
    if mask is None:
        return nll.mean()
    return (nll * mask.unsqueeze(-1)).sum() / (mask.sum() * nll.shape[-1])


def sample_mdn(logit_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, temperature: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw z from the mixture with temperature tau: pi ~ softmax(logits / tau), sigma * sqrt(tau)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    probs = F.softmax(logit_pi / temperature, -1)
    k = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(probs.shape[:-1])
    m = mu.gather(-1, k.unsqueeze(-1)).squeeze(-1)
    s = log_sigma.gather(-1, k.unsqueeze(-1)).squeeze(-1).exp() * math.sqrt(temperature)
    return m + s * torch.randn(m.shape, generator=generator)


def save_rnn(model: MDNRNN, path: str | Path, cfg: RNNConfig) -> None:
    path = Path(path)
    torch.save(model.state_dict(), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    meta = {"z_dim": model.z_dim, "hidden": model.hidden, "mixtures": model.mixtures, "config": cfg.__dict__}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))


def load_rnn(path: str | Path) -> MDNRNN:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MDN-RNN checkpoint {path} not found; run `dgmlab wm train-rnn` first")
    meta = json.loads(path.with_suffix(".json").read_text())
    model = MDNRNN(meta["z_dim"], meta["hidden"], meta["mixtures"])
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def load_latents(latent_dir: str | Path) -> list[dict[str, np.ndarray]]:
    """All latent episodes (32 floats per frame, small enough to hold in memory)."""
    return [load_episode(p, LATENT_KEYS) for p in list_episodes(latent_dir)]


def make_batches(episodes: list[dict], seq_len: int, rng: np.random.Generator):
    """Windows of seq_len+1 steps, z re-sampled from (mu, log var): yields (z_in, a, z_next, r, done) tensors."""
    windows = []
    for ep in episodes:
        n = len(ep["action"])
        z = ep["mu"] + np.exp(0.5 * ep["logvar"]) * rng.standard_normal(ep["mu"].shape).astype(np.float32)
        for s in range(0, max(n - 1, 1), seq_len):
            e = min(s + seq_len, n - 1)
            if e - s >= 1:
                windows.append((z[s:e], ep["action"][s:e], z[s + 1:e + 1], ep["reward"][s:e], ep["done"][s:e]))
    if not windows:
        raise ValueError("MDN-RNN: no training windows; episodes need at least 2 frames")
    return windows


def train_rnn(latent_dir: str | Path, out: str | Path, cfg: RNNConfig) -> MDNRNN:
    """Train the MDN-RNN on latent episodes; writes ``out/rnn.pt``, ``rnn.json``, ``rnn_metrics.csv``; resumes."""
    out = Path(out)
    episodes = load_latents(latent_dir)
    torch.manual_seed(cfg.seed)
    model = MDNRNN(episodes[0]["mu"].shape[1], cfg.hidden, cfg.mixtures)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = load_epoch_state(out, "rnn", model, opt, out / "rnn_metrics.csv")
    for epoch in tqdm(range(start, cfg.epochs), desc="rnn", initial=start, total=cfg.epochs, leave=False):
        rng = np.random.default_rng([cfg.seed, epoch])
        windows = make_batches(episodes, cfg.seq_len, rng)
        rows = [_rnn_step(model, opt, [windows[i] for i in idx], cfg, epoch)
                for idx in np.array_split(rng.permutation(len(windows)), max(1, len(windows) // cfg.batch_size))]
        append_csv(out / "rnn_metrics.csv", rows)
        save_rnn(model, out / "rnn.pt", cfg)
        save_epoch_state(out, "rnn", model, opt, epoch + 1)
    return model.eval()


def _pad(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), t, *arrays[0].shape[1:]), np.float32)
    mask = np.zeros((len(arrays), t), np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)], mask[i, :len(a)] = a, 1.0
    return torch.from_numpy(out), torch.from_numpy(mask)


def _rnn_step(model: MDNRNN, opt: torch.optim.Optimizer, batch: list, cfg: RNNConfig, epoch: int) -> dict:
    (z, mask), (a, _), (zn, _), (r, _), (d, _) = (_pad([w[i] for w in batch]) for i in range(5))
    logit_pi, mu, log_sigma, r_hat, d_logit, _ = model(z, a)
    z_loss = mdn_nll(zn, logit_pi, mu, log_sigma, mask)
    r_loss = ((r_hat - r).pow(2) * mask).sum() / mask.sum()
    d_loss = (F.binary_cross_entropy_with_logits(d_logit, d, reduction="none") * mask).sum() / mask.sum()
    loss = z_loss + 0.1 * r_loss + 0.1 * d_loss
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"MDN-RNN loss is {loss.item()} at epoch {epoch} (z {z_loss.item()}, reward {r_loss.item()}, done "
            f"{d_loss.item()}); check the latents for NaN/inf or lower lr (now {cfg.lr}); not training on NaN")
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    opt.step()
    return {"epoch": epoch, "losses/total": loss.item(), "losses/z_nll": z_loss.item(),
            "losses/reward_mse": r_loss.item(), "losses/done_bce": d_loss.item()}
