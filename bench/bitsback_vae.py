"""Comparison row: BB-ANS bits-back coding with a small VAE on the same held-out patches (the coder's
``GaussianBuckets`` for the latents, a discretized logistic per subpixel for the pixels).

    python bench/bitsback_vae.py --patch 16 --minutes 4 --out bench/results/bitsback_vae.json

Trains a small convolutional VAE on the natural-image train tiles for --minutes (CPU), then codes --limit held-out
patches into one message with ``dgmlab.coding.BitsBack``: posterior q(z|x) and prior N(0, I) discretised into
2^precision prior-quantile buckets, likelihood evaluated at the bucket centres. Reports the VAE's -ELBO, its net
codelength and its auxiliary bits (bits per subpixel).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bitsback_common import run_info
from torch import nn

from dgmlab.coding import BitsBack, DiscretizedLogistic, GaussianBuckets, Message
from dgmlab.coding.local_bitsback import net_bits
from dgmlab.data.registry import load_images
from dgmlab.flows.compress import tile_image


class VAE(nn.Module):
    """Conv encoder -> diagonal Gaussian over ``latent`` dims -> conv decoder -> logistic per subpixel."""

    def __init__(self, patch: int, latent: int = 48, width: int = 64) -> None:
        super().__init__()
        self.patch, self.side = patch, patch // 4
        self.enc = nn.Sequential(nn.Conv2d(3, width, 4, 2, 1), nn.ELU(), nn.Conv2d(width, width, 4, 2, 1), nn.ELU(),
                                 nn.Flatten(), nn.Linear(width * self.side**2, 2 * latent))
        self.dec = nn.Sequential(nn.Linear(latent, width * self.side**2), nn.ELU(),
                                 nn.Unflatten(1, (width, self.side, self.side)),
                                 nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ELU(),
                                 nn.ConvTranspose2d(width, 6, 4, 2, 1))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.enc(x / 127.5 - 1).chunk(2, dim=1)
        return mean, log_std.clamp(-7, 2).exp()

    def likelihood(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_scale = self.dec(z).chunk(2, dim=1)
        return 127.5 + 127.5 * torch.tanh(mean), log_scale.clamp(-4, 5).exp()

    def neg_elbo_bits(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.posterior(x)
        z = mean + std * torch.randn_like(std)
        mu, s = self.likelihood(z)
        # discretized logistic on bins of width 1, the end bins taking the tails
        upper = torch.where(x >= 255, torch.ones_like(x), torch.sigmoid((x + 0.5 - mu) / s))
        lower = torch.where(x <= 0, torch.zeros_like(x), torch.sigmoid((x - 0.5 - mu) / s))
        log_px = torch.log((upper - lower).clamp_min(1e-12)).flatten(1).sum(1)
        kl = 0.5 * (mean**2 + std**2 - 1 - 2 * torch.log(std)).sum(1)
        return (kl - log_px) / math.log(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--precision", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/bitsback_vae.json")
    args = ap.parse_args()
    info = run_info(args.threads)
    torch.manual_seed(0)
    train = np.concatenate([tile_image(np.asarray(img), args.patch) for img in load_images("natural", "train")])
    held = np.concatenate([tile_image(np.asarray(img), args.patch) for img in load_images("natural", "heldout")])
    held = held[np.sort(np.random.default_rng(0).choice(len(held), args.limit, replace=False))].astype(np.int64)
    vae = VAE(args.patch)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    t_end, steps, rng = time.time() + 60 * args.minutes, 0, np.random.default_rng(1)
    while time.time() < t_end:
        x = torch.from_numpy(train[rng.integers(0, len(train), 64)]).float()
        loss = vae.neg_elbo_bits(x).mean() / x[0].numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    vae = vae.double().eval()
    xt = torch.from_numpy(held).double()
    with torch.no_grad():
        elbo_bpd = float(np.mean([vae.neg_elbo_bits(xt).mean().item() for _ in range(4)])) / held[0].size
    prec = args.precision

    def posterior(x: np.ndarray) -> GaussianBuckets:
        with torch.no_grad():
            mean, std = vae.posterior(torch.from_numpy(x).double())
        return GaussianBuckets(mean.numpy(), std.numpy(), precision=prec)

    def likelihood(z: np.ndarray) -> DiscretizedLogistic:
        centres = torch.from_numpy(GaussianBuckets(0.0, 1.0, precision=prec).values(z))
        with torch.no_grad():
            mu, s = vae.likelihood(centres)
        return DiscretizedLogistic(mu.numpy(), s.numpy(), bin_width=1.0, support=(0, 255))

    prior = GaussianBuckets(np.zeros((1, 48)), np.ones((1, 48)), precision=prec)
    codec = BitsBack(prior, likelihood, posterior)
    msg = Message(num_streams=16, seed=0)
    for i in range(len(held)):
        codec.push(msg, held[i:i + 1])
    decoded = Message.from_bytes(msg.to_bytes())
    assert all(np.array_equal(codec.pop(decoded), held[i:i + 1]) for i in reversed(range(len(held))))
    dims = held.size
    result = {"model": "VAE (bench/bitsback_vae.py)", "patch": args.patch, "train_steps": steps,
              "train_minutes": args.minutes, "patches": len(held), "latent_precision": prec,
              "neg_elbo_bpd": elbo_bpd, "net_codelength_bpd": net_bits(msg) / dims,
              "auxiliary_bits_per_dim": msg.initial_bits_used() / dims, **info}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
