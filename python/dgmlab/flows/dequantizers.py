"""Dequantization noise ``u`` in ``[0, 1)^D`` for 8-bit data ``x`` (Section 3.2.1).

Both dequantizers return ``(u, log q(u|x))`` per example; the model is trained on ``x + u``.
Uniform: ``q = U[0, 1)^D``, ``log q = 0`` (Eq. 3.3-3.5). Variational: ``u = sigmoid(g_x(eps))``, ``eps ~ N(0, I)``,
where ``g_x`` is a stack of coupling layers conditioned on features of ``x`` (Eq. 3.6-3.9).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dgmlab.flows.couplings import Coupling
from dgmlab.flows.layers import ActNorm, InvConv1x1, Sigmoid
from dgmlab.flows.nets import AttnBlock, ConvBlock, WNConv2d


def standard_normal_logp(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed per example."""
    return (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(dim=1)


class UniformDequantizer(nn.Module):
    """``u ~ U[0, 1)^D``."""

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(x.shape, generator=generator, device=x.device)
        return u, x.new_zeros(x.shape[0], dtype=u.dtype)


class VariationalDequantizer(nn.Module):
    """``q(u|x)``: a conditional flow of ``couplings`` checkerboard couplings, then an elementwise sigmoid.

    ``context(x)`` computes the conditioning features once; the flow layers (``self.flow``) take them as context.
    """

    def __init__(
        self,
        channels: int,
        filters: int,
        blocks: int,
        couplings: int,
        kind: str,
        components: int,
        attention: bool,
        heads: int,
    ):
        super().__init__()
        self.inp = WNConv2d(channels, filters, 3)
        body: list[nn.Module] = []
        for _ in range(blocks):
            body.append(ConvBlock(filters))
            if attention:
                body.append(AttnBlock(filters, heads))
        self.body = nn.Sequential(*body)
        layers: list[nn.Module] = []
        for i in range(couplings):
            layers += [
                ActNorm(channels),
                InvConv1x1(channels),
                Coupling(
                    channels,
                    "checkerboard",
                    i % 2,
                    kind,
                    filters,
                    blocks,
                    components,
                    attention,
                    heads,
                    context_channels=filters,
                ),
            ]
        self.flow = nn.ModuleList(layers)
        self.sigmoid = Sigmoid()

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """Features of the 8-bit image ``x`` (scaled to ``[-1, 1]``) that condition every coupling."""
        return self.body(self.inp(x / 127.5 - 1.0))

    def _run(self, eps: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, logdet = eps, eps.new_zeros(eps.shape[0])
        for layer in self.flow:
            h, ld = layer(h, context) if isinstance(layer, Coupling) else layer(h)
            logdet = logdet + ld
        u, ld = self.sigmoid(h)
        return u, logdet + ld

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        eps = torch.randn(x.shape, generator=generator, device=x.device)
        u, logdet = self._run(eps, self.context(x))
        return u, standard_normal_logp(eps) - logdet

    def log_prob(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log q(u|x)`` of given noise ``u`` (inverts the flow)."""
        context = self.context(x)
        eps = self.inverse(u, context)
        _, logdet = self._run(eps, context)
        return standard_normal_logp(eps) - logdet

    def inverse(self, u: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``eps = g_x^{-1}(logit(u))``."""
        h = self.sigmoid.inverse(u)
        for layer in reversed(self.flow):
            h = layer.inverse(h, context) if isinstance(layer, Coupling) else layer.inverse(h)
        return h
