"""The three learned parts of PICO: compressor, discriminator (shaped as a user model) and reward model.

All are small MLPs on the observation's features (pixels for digits, VAE means for car racing):

- ``Compressor``: x -> K mask logits (which latent blocks matter for this x).
- ``Discriminator``: D(x, a) = softmax(g(x))_a, the probability that the user, seeing the *original* x, takes a.
  Trained on positives (x, a_user(x)) -> 1 and negatives (x, a_user(x_hat)) -> a soft label.
- ``GaussianDiscriminator``: the same for continuous actions (steering): D(x, a) = exp(-|g(x) - a|^2 / 2 s^2), a
  Gaussian score around the action g(x) the user is predicted to take on x, with a learned width s.
- ``RewardModel``: R(x, mask) in (0, 1), a differentiable regression of D(x, a_user(x_hat(mask))) (or of
  1 - pixel MAE for the perceptual baseline) that the compressor climbs through the relaxed mask.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Compressor", "Discriminator", "GaussianDiscriminator", "RewardModel", "fit_minibatches", "mlp"]


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def fit_minibatches(params, loss_fn, n: int, epochs: int, batch_size: int, lr: float,
                    gen: torch.Generator) -> list[float]:
    """Adam on ``loss_fn(row indices)`` over shuffled minibatches of n rows; returns each epoch's mean loss."""
    opt = torch.optim.Adam(params, lr=lr)
    history = []
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            loss = loss_fn(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / n)
    return history


class Compressor(nn.Module):
    def __init__(self, feature_dim: int, num_blocks: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = mlp([feature_dim, hidden, hidden, num_blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, feature_dim: int, num_actions: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = mlp([feature_dim, hidden, hidden, num_actions])

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """D(x, a) in (0, 1) for integer actions ``a`` (N,)."""
        return torch.softmax(self.net(x), -1).gather(1, a.long()[:, None])[:, 0]


class GaussianDiscriminator(nn.Module):
    def __init__(self, feature_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = mlp([feature_dim, hidden, hidden, action_dim])
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """D(x, a) in (0, 1] for continuous actions ``a`` (N, A)."""
        sq = ((self.net(x) - a) ** 2).sum(-1)
        return torch.exp(-0.5 * sq * torch.exp(-2 * self.log_scale))


class RewardModel(nn.Module):
    def __init__(self, feature_dim: int, num_blocks: int, hidden: int = 128) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.net = mlp([feature_dim + num_blocks, hidden, hidden, 1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([x, mask], -1))[:, 0])

    def over_masks(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B, C) R(x_b, masks_c) for every observation and every one of C masks (C, K), without repeating x:
        the first layer's x part is computed once per row and its mask part once per mask."""
        first = self.net[0]
        hx = x @ first.weight[:, :self.feature_dim].T + first.bias
        hm = masks.to(x.dtype) @ first.weight[:, self.feature_dim:].T
        return torch.sigmoid(self.net[2:](self.net[1](hx[:, None] + hm[None])))[..., 0]
