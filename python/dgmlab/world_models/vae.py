"""Vision: the write-up's convolutional VAE on 64x64 frames, its loss, training loop and latent export.

Encoder: 4 convs 4x4 stride 2 (32, 64, 128, 256, ReLU) -> 2x2x256 -> (mu, log var) of size z.
Decoder: dense z -> 1024 -> 1x1 -> deconvs 5,5,6,6 stride 2 (128, 64, 32, 3) -> sigmoid.
Loss per image: sum of squared pixel errors + max(KL, kl_tolerance * z_dim).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dgmlab.world_models.config import VAEConfig
from dgmlab.world_models.logs import append_csv
from dgmlab.world_models.resume import load_epoch_state, save_epoch_state
from dgmlab.world_models.storage import list_episodes, load_episode, save_npz_atomic, stream_frames


class ConvVAE(nn.Module):
    """Ha & Schmidhuber's V model. Input: float (B, 3, 64, 64) in [0, 1]."""

    def __init__(self, z_dim: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 4, 2), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2), nn.ReLU(), nn.Conv2d(128, 256, 4, 2), nn.ReLU(), nn.Flatten(),
        )
        self.mu = nn.Linear(1024, z_dim)
        self.logvar = nn.Linear(1024, z_dim)
        self.fc = nn.Linear(z_dim, 1024)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(1024, 128, 5, 2), nn.ReLU(), nn.ConvTranspose2d(128, 64, 5, 2), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 6, 2), nn.ReLU(), nn.ConvTranspose2d(32, 3, 6, 2), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.fc(z).view(-1, 1024, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (B, 64, 64, 3) -> float (B, 3, 64, 64) in [0, 1]."""
    return torch.from_numpy(np.require(frames, np.uint8, ["C", "W"])).permute(0, 3, 1, 2).float().div_(255.0)


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             kl_tolerance: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, KL), each averaged over the batch; KL per image floored at kl_tolerance * z_dim."""
    rec = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return rec + torch.clamp(kl, min=kl_tolerance * mu.shape[1]), rec, kl


def save_vae(model: ConvVAE, path: str | Path, cfg: VAEConfig) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    path.with_suffix(".json").write_text(json.dumps({"z_dim": model.z_dim, "config": cfg.__dict__}, indent=2))


def load_vae(path: str | Path) -> ConvVAE:
    """Rebuild a VAE from ``vae.pt`` + ``vae.json`` (state dict only, ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VAE checkpoint {path} not found; run `dgmlab wm train-vae` first")
    model = ConvVAE(json.loads(path.with_suffix(".json").read_text())["z_dim"])
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def train_vae(data_dir: str | Path, out: str | Path, cfg: VAEConfig) -> ConvVAE:
    """Train on all frames under ``data_dir`` (streamed); writes ``out/vae.pt``, ``vae.json``, ``vae_metrics.csv``.

    Resumes at the last committed epoch (see ``resume``).
    """
    out = Path(out)
    files = list_episodes(data_dir)
    torch.manual_seed(cfg.seed)
    model = ConvVAE(cfg.z_dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = load_epoch_state(out, "vae", model, opt, out / "vae_metrics.csv")
    for epoch in range(start, cfg.epochs):
        rows = _vae_epoch(model, opt, files, cfg, epoch)
        append_csv(out / "vae_metrics.csv", rows)
        save_vae(model, out / "vae.pt", cfg)
        save_epoch_state(out, "vae", model, opt, epoch + 1)
    return model.eval()


def _vae_epoch(model: ConvVAE, opt: torch.optim.Optimizer, files: list[Path], cfg: VAEConfig,
               epoch: int) -> list[dict]:
    rng = np.random.default_rng([cfg.seed, epoch])
    rows = []
    model.train()
    for step, frames in enumerate(tqdm(stream_frames(files, cfg.batch_size, cfg.shuffle_episodes, rng),
                                       desc=f"vae epoch {epoch}", leave=False)):
        x = to_tensor(frames)
        recon, mu, logvar = model(x)
        loss, rec, kl = vae_loss(x, recon, mu, logvar, cfg.kl_tolerance)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"VAE loss is {loss.item()} at epoch {epoch} step {step} (rec {rec.item()}, "
                                     f"kl {kl.item()}); lower the learning rate (now {cfg.lr}) or check the frames")
        opt.zero_grad()
        loss.backward()
        opt.step()
        rows.append({"epoch": epoch, "step": step, "losses/total": loss.item(), "losses/recon": rec.item(),
                     "losses/kl": kl.item()})
    return rows


@torch.no_grad()
def export_latents(vae_path: str | Path, data_dir: str | Path, out_dir: str | Path, batch: int = 500) -> int:
    """Write (mu, log var) of every frame, one file per episode (see ``storage``); returns files written.

    Files already written by the same VAE checkpoint are kept (resume); a different checkpoint rewrites them all.
    """
    model, out = load_vae(vae_path), Path(out_dir)
    source = {"vae_sha256": hashlib.sha256(Path(vae_path).read_bytes()).hexdigest()}
    marker = out / "source.json"
    if marker.is_file() and json.loads(marker.read_text()) != source:
        for stale in out.glob("ep_*.npz"):
            stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(source))
    count = 0
    for path in tqdm(list_episodes(data_dir), desc="latents", leave=False):
        if (out / path.name).is_file():
            continue
        ep = load_episode(path)
        stats = [model.encode(to_tensor(ep["obs"][i:i + batch])) for i in range(0, len(ep["obs"]), batch)]
        mu = torch.cat([s[0] for s in stats]).numpy()
        logvar = torch.cat([s[1] for s in stats]).numpy()
        save_npz_atomic(out / path.name, mu=mu, logvar=logvar, action=ep["action"], reward=ep["reward"],
                        done=ep["done"], seed=ep["seed"])
        count += 1
    return count
