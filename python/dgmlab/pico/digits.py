"""The digits domain: scikit-learn's 8x8 handwritten digits, a small beta-VAE (one block per latent dimension)
and an MLP classifier as the simulated user (action = the digit it reads).

Both models train in seconds on a CPU and are cached as ``state_dict`` + JSON in a model directory, so a sweep
re-run loads them instead of retraining. The receiver fills dropped latents with a seeded prior sample, so at a low
budget a digit keeps what the classifier reads and gets a random style.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dgmlab.pico.domain import Domain, gaussian_block_kl, prior_fill, prior_fill_draw
from dgmlab.pico.nets import fit_minibatches, mlp

__all__ = [
    "FILL_SEED",
    "DigitsConfig",
    "DigitsVAE",
    "digits_domain",
    "load_digits_models",
    "load_digits_split",
    "train_digits_models",
]

FILL_SEED = 12345  # seed of the prior sample that fills dropped latents (sender and receiver share it)


@dataclass
class DigitsConfig:
    """The generative model and user of the digits domain."""

    latent_dim: int = 10
    """beta-VAE latents (K = latent_dim blocks of one)."""
    beta: float = 0.2
    """Weight of the KL term (at 1.0 only 4 of 8 latents stay active on these 1,437 digits; 0.2 keeps 7 of 10)."""
    hidden: int = 256
    vae_epochs: int = 200
    classifier_epochs: int = 100
    test_fraction: float = 0.2
    seed: int = 0


def load_digits_split(test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """(x_train, y_train, x_test, y_test): 8x8 images flattened to 64 floats in [0, 1], a seeded random split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits domain needs scikit-learn: pip install scikit-learn") from None
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a value in (0, 1), got {test_fraction}")
    data = load_digits()
    x, y = (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


class DigitsVAE(nn.Module):
    """MLP beta-VAE on 64 pixels with a Bernoulli-style (binary cross-entropy) likelihood on intensities."""

    def __init__(self, latent_dim: int = 8, hidden: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([64, hidden, hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim, hidden, hidden, 64])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, -1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def loss(self, x: torch.Tensor, beta: float) -> torch.Tensor:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="sum") / len(x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / len(x)
        return rec + beta * kl


def _fit(model: nn.Module, loss_fn, n: int, epochs: int, seed: int) -> list[float]:
    return fit_minibatches(model.parameters(), loss_fn, n, epochs, 128, 1e-3, torch.Generator().manual_seed(seed))


def train_digits_models(out: str | Path, cfg: DigitsConfig) -> tuple[DigitsVAE, nn.Module]:
    """Train (or load, if ``out`` holds them for the same config) the beta-VAE and the classifier."""
    out = Path(out)
    meta_path = out / "digits_models.json"
    if meta_path.is_file() and json.loads(meta_path.read_text())["config"] == asdict(cfg):
        return load_digits_models(out)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)
    x_train, y_train, x_test, y_test = load_digits_split(cfg.test_fraction, cfg.seed)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    vae = DigitsVAE(cfg.latent_dim, cfg.hidden)
    vae_hist = _fit(vae, lambda i: vae.loss(x[i], cfg.beta), len(x), cfg.vae_epochs, cfg.seed)
    clf = mlp([64, 128, 10])
    clf_hist = _fit(clf, lambda i: F.cross_entropy(clf(x[i]), y[i]), len(x), cfg.classifier_epochs, cfg.seed)
    with torch.no_grad():
        acc = float((clf(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"vae": vae.state_dict(), "classifier": clf.state_dict()}, out / "digits_models.pt")
    meta = {"config": asdict(cfg), "vae_loss": [vae_hist[0], vae_hist[-1]],
            "classifier_loss": [clf_hist[0], clf_hist[-1]], "classifier_test_accuracy": acc}
    meta_path.write_text(json.dumps(meta, indent=1))
    return vae.eval(), clf.eval()


def load_digits_models(out: str | Path) -> tuple[DigitsVAE, nn.Module]:
    out = Path(out)
    if not (out / "digits_models.pt").is_file():
        raise FileNotFoundError(f"no digits models in {out}; run `dgmlab pico digits --out {out}` first")
    cfg = DigitsConfig(**json.loads((out / "digits_models.json").read_text())["config"])
    vae, clf = DigitsVAE(cfg.latent_dim, cfg.hidden), mlp([64, 128, 10])
    states = torch.load(out / "digits_models.pt", weights_only=True)
    vae.load_state_dict(states["vae"])
    clf.load_state_dict(states["classifier"])
    return vae.eval(), clf.eval()


def reconstruct(vae: DigitsVAE, z: np.ndarray) -> np.ndarray:
    """(N, 64) images in [0, 1] decoded from received latents."""
    with torch.no_grad():
        return vae.decode(torch.as_tensor(np.asarray(z, np.float32))).numpy()


def classify(clf: nn.Module, images: np.ndarray) -> np.ndarray:
    """The user's action probabilities (N, 10) on images (N, 64)."""
    with torch.no_grad():
        return torch.softmax(clf(torch.as_tensor(np.asarray(images, np.float32))), -1).numpy().astype(np.float64)


def digits_domain(x: np.ndarray, vae: DigitsVAE, clf: nn.Module, fill_seed: int = FILL_SEED) -> Domain:
    """The domain over images ``x`` (N, 64): latents = encoder means, user = classifier on the decoded image,
    ``block_kl`` = each latent's mean KL(q(z_i | x) || N(0, 1)) over ``x``."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"x: expected digits flattened to (N, 64), got {x.shape}")
    with torch.no_grad():
        mu, logvar = (t.numpy().astype(np.float64) for t in vae.encode(torch.from_numpy(x)))
    return Domain(features=x, latents=mu, block_size=1, original_probs=classify(clf, x),
                  block_kl=gaussian_block_kl(mu, logvar, 1),
                  fill=prior_fill(fill_seed), user_probs=lambda z: classify(clf, reconstruct(vae, z)),
                  distortion=lambda z: np.abs(reconstruct(vae, z) - x).mean(1), fill_draw=prior_fill_draw)
