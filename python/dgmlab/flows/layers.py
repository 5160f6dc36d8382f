"""Flow layers: actnorm, invertible 1x1 convolution, squeeze, elementwise sigmoid / logit, and the two splits.

Every layer maps ``x -> (y, logdet)`` in ``forward`` (``logdet`` per example, shape ``(B,)``) and back in ``inverse``.
For local bits-back coding each layer also exposes what its Jacobian looks like without forming it:
elementwise maps give ``log_derivative(x)`` (``log |dy_i/dx_i|``, same shape as ``x``), the 1x1 convolution gives
the per-pixel ``c x c`` ``matrix()`` and squeeze is a permutation (``volume_preserving = True``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(dim=1)


class ActNorm(nn.Module):
    """``y = (x + b) * exp(log_s)`` with data-dependent init (zero mean, unit variance on the first batch).

    ``per_element=True`` learns one scale and bias per (c, h, w) element as in the thesis' architecture (so it is tied
    to one image size); otherwise one per channel as in Glow.
    """

    def __init__(
        self, channels: int, size: int | None = None, per_element: bool = False, init_scale: float = 1.0
    ):
        super().__init__()
        if per_element and size is None:
            raise ValueError("per-element actnorm needs the spatial size")
        shape = (1, channels, size, size) if per_element else (1, channels, 1, 1)
        self.per_element = per_element
        self.init_scale = init_scale
        self.bias = nn.Parameter(torch.zeros(shape))
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        dims = (0,) if self.per_element else (0, 2, 3)
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-2)
        self.bias.copy_(-mean)
        self.log_scale.copy_(torch.log(self.init_scale / std))
        self.initialized.fill_(True)

    def _logdet(self, x: torch.Tensor) -> torch.Tensor:
        per_map = self.log_scale.sum() * (1 if self.per_element else x.shape[2] * x.shape[3])
        return per_map.expand(x.shape[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not bool(self.initialized):
            self._initialize(x)
        return (x + self.bias) * torch.exp(self.log_scale), self._logdet(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias

    def log_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_scale.expand_as(x)


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution ``y[:, :, h, w] = W x[:, :, h, w]`` (Glow), ``W`` initialised to a random rotation."""

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        self.weight = nn.Parameter(q)

    def matrix(self) -> torch.Tensor:
        """The per-pixel ``c x c`` Jacobian block (the same at every pixel)."""
        return self.weight

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.einsum("ij,bjhw->bihw", self.weight, x)
        logdet = torch.linalg.slogdet(self.weight)[1] * (x.shape[2] * x.shape[3])
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.weight), y)


class Squeeze(nn.Module):
    """Space-to-depth: ``(B, C, H, W) -> (B, 4C, H/2, W/2)``; a permutation, so ``logdet = 0``."""

    volume_preserving = True

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"squeeze needs even height and width, got {h}x{w}")
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(b)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        b, c4, h, w = y.shape
        c = c4 // 4
        return y.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c, 2 * h, 2 * w)


class Sigmoid(nn.Module):
    """Elementwise ``y = sigmoid(x)``, ``log dy/dx = -softplus(-x) - softplus(x)``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(x), _sum_per_example(self.log_derivative(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.log(y) - torch.log1p(-y)

    def log_derivative(self, x: torch.Tensor) -> torch.Tensor:
        return -F.softplus(-x) - F.softplus(x)


class Logit(nn.Module):
    """Elementwise ``y = logit(alpha + (1 - 2 alpha) x / 256)`` on dequantized pixels ``x`` in ``[0, 256)``.

    The small ``alpha`` keeps ``y`` finite when a pixel value reaches 256 in float rounding.
    """

    def __init__(self, alpha: float = 1e-5):
        super().__init__()
        self.alpha = alpha

    def _v(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha + (1.0 - 2.0 * self.alpha) * x / 256.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self._v(x)
        return torch.log(v) - torch.log1p(-v), _sum_per_example(self.log_derivative(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) * 256.0 / (1.0 - 2.0 * self.alpha)

    def log_derivative(self, x: torch.Tensor) -> torch.Tensor:
        v = self._v(x)
        return math.log((1.0 - 2.0 * self.alpha) / 256.0) - torch.log(v) - torch.log1p(-v)


class CheckerboardSplit:
    """Split ``(B, C, H, W)`` into two ``(B, C, H, W/2)`` halves by the checkerboard pattern (Real NVP).

    Half ``parity`` holds the pixels with ``(h + w) % 2 == parity``, packed along the width, so the conditioning net
    runs on half the pixels.
    """

    def __init__(self, parity: int):
        self.parity = parity

    def _index(self, x: torch.Tensor, parity: int) -> torch.Tensor:
        b, c, h, w = x.shape
        if w % 2:
            raise ValueError(f"checkerboard split needs an even width, got {w}")
        rows = (torch.arange(h, device=x.device) + parity) % 2
        return rows.view(1, 1, h, 1, 1).expand(b, c, h, w // 2, 1)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        index = self._index(x, self.parity)
        pairs = x.reshape(b, c, h, w // 2, 2)
        return pairs.gather(4, index).squeeze(4), pairs.gather(4, 1 - index).squeeze(4)

    def merge(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        b, c, h, half = first.shape
        out = first.new_empty(b, c, h, 2 * half)
        index = self._index(out, self.parity)
        pairs = out.view(b, c, h, half, 2)
        pairs.scatter_(4, index, first.unsqueeze(4))
        pairs.scatter_(4, 1 - index, second.unsqueeze(4))
        return out


class ChannelSplit:
    """Split ``(B, C, H, W)`` into the first and second half of the channels (``parity=1`` swaps them)."""

    def __init__(self, parity: int):
        self.parity = parity

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] % 2:
            raise ValueError(f"channel split needs an even channel count, got {x.shape[1]}")
        a, b = x.chunk(2, dim=1)
        return (a, b) if self.parity == 0 else (b, a)

    def merge(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return torch.cat((first, second) if self.parity == 0 else (second, first), dim=1)
