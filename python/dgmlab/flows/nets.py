"""Conditioning networks of Flow++ (Section 3.2.2.2): a stack of gated Conv and multi-head self-Attn blocks.

    Conv = Input -> Nonlinearity -> Conv3x3 -> Nonlinearity -> Gate
    Attn = Input -> Conv1x1 -> MultiHeadSelfAttention -> Gate

each added residually and followed by layer normalisation over channels; Gate is a 1x1 convolution doubling the
channels followed by a gated linear unit; the nonlinearity is PixelCNN++'s concat-ELU. Convolutions are
weight-normalised with data-dependent initialisation (Salimans & Kingma, 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """PixelCNN++'s nonlinearity: ``elu([x, -x])`` along channels (doubles them)."""
    return F.elu(torch.cat([x, -x], dim=1))


class WNConv2d(nn.Module):
    """Weight-normalised convolution ``y = g * (v / ||v||) * x + b``; ``g`` and ``b`` are set on the first batch so
    that each output channel has zero mean and standard deviation ``init_scale``."""

    def __init__(self, cin: int, cout: int, kernel: int, init_scale: float = 1.0):
        super().__init__()
        self.v = nn.Parameter(torch.randn(cout, cin, kernel, kernel) * 0.05)
        self.g = nn.Parameter(torch.ones(cout))
        self.b = nn.Parameter(torch.zeros(cout))
        self.init_scale = init_scale
        self.register_buffer("initialized", torch.tensor(False))

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        w = self.v * (self.g / self.v.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
        return F.conv2d(x, w, self.b, padding=self.v.shape[-1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            with torch.no_grad():
                self.g.fill_(1.0)
                self.b.zero_()
                y = self._conv(x)
                mean, std = y.mean(dim=(0, 2, 3)), y.std(dim=(0, 2, 3)).clamp_min(1e-6)
                self.g.mul_(self.init_scale / std)
                self.b.copy_(-mean * self.init_scale / std)
                self.initialized.fill_(True)
        return self._conv(x)


class Gate(nn.Module):
    """1x1 convolution to twice the output channels, then a gated linear unit ``a * sigmoid(b)``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = WNConv2d(cin, 2 * cout, 1, init_scale=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return a * torch.sigmoid(b)


class ChannelLayerNorm(nn.Module):
    """Layer normalisation over the channels of each pixel."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvBlock(nn.Module):
    """``LN(x + Gate(concat_elu(Conv3x3(concat_elu(x)))))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = WNConv2d(2 * channels, channels, 3)
        self.gate = Gate(2 * channels, channels)
        self.norm = ChannelLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = concat_elu(self.conv(concat_elu(x)))
        return self.norm(x + self.gate(h))


class AttnBlock(nn.Module):
    """``LN(x + Gate(MHSA(Conv1x1(x))))`` over all pixels of the map, ``heads`` heads."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkv = WNConv2d(channels, 3 * channels, 1)
        self.gate = Gate(channels, channels)
        self.norm = ChannelLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(x).view(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2)
        out = F.scaled_dot_product_attention(qkv[:, 0], qkv[:, 1], qkv[:, 2])
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return self.norm(x + self.gate(out))


class ConditioningNet(nn.Module):
    """Maps the conditioning half (plus optional context) to ``cout`` transformation parameters per position.

    ``in conv 3x3 -> blocks x (Conv [+ Attn]) -> out conv 3x3``; the output convolution starts at zero so that each
    coupling starts as the identity.
    """

    def __init__(
        self, cin: int, cout: int, filters: int, blocks: int, attention: bool = True, heads: int = 4
    ):
        super().__init__()
        self.inp = WNConv2d(cin, filters, 3)
        layers: list[nn.Module] = []
        for _ in range(blocks):
            layers.append(ConvBlock(filters))
            if attention:
                layers.append(AttnBlock(filters, heads))
        self.blocks = nn.Sequential(*layers)
        self.out = nn.Conv2d(filters, cout, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))
