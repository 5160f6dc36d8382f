"""Coupling layers: affine (Eq. 3.10-3.13) and logistic-mixture CDF (Eq. 3.14-3.17).

``x`` is split into a conditioning half ``x1`` (passed through) and a transformed half ``x2``; a conditioning net
reads ``x1`` (and an optional context, used by the variational dequantizer) and outputs, for every element of
``x2``, the parameters of an elementwise monotone map. For local bits-back coding a coupling exposes ``split`` /
``merge`` and ``elementwise(x2, x1)`` returning ``(y2, log |dy2/dx2|)`` elementwise.
"""

from __future__ import annotations

import torch
from torch import nn

from dgmlab.flows.layers import ChannelSplit, CheckerboardSplit
from dgmlab.flows.mixlogistic import mixlogistic_inverse, mixlogistic_logit_cdf
from dgmlab.flows.nets import ConditioningNet

MIN_LOG_SCALE = -7.0
MEAN_SPREAD = 1.0
"""Mixture means start at distinct offsets in [-MEAN_SPREAD, MEAN_SPREAD]: the conditioning net's output starts at
zero, and K components with equal parameters get equal gradients forever, so the mixture would stay one logistic."""


class Coupling(nn.Module):
    """A coupling layer.

    :param channels: channels of the input ``x``.
    :param split: ``"checkerboard"`` or ``"channel"``.
    :param parity: which half conditions (0 or 1); alternate it between consecutive couplings.
    :param kind: ``"mixture"`` (Flow++, ``components`` logistics) or ``"affine"`` (Real NVP / Glow).
    :param context_channels: channels of a context map of the same spatial size as ``x`` (0 for none).
    """

    def __init__(
        self,
        channels: int,
        split: str,
        parity: int,
        kind: str = "mixture",
        filters: int = 96,
        blocks: int = 10,
        components: int = 32,
        attention: bool = True,
        heads: int = 4,
        context_channels: int = 0,
    ):
        super().__init__()
        if split not in ("checkerboard", "channel") or kind not in ("mixture", "affine"):
            raise ValueError(
                f"split must be checkerboard|channel and kind mixture|affine, got {split!r}, {kind!r}"
            )
        self.splitter = CheckerboardSplit(parity) if split == "checkerboard" else ChannelSplit(parity)
        self.kind, self.components = kind, components
        half = channels if split == "checkerboard" else channels // 2
        context_in = 2 * context_channels if split == "checkerboard" else context_channels
        per_element = 2 + 3 * components if kind == "mixture" else 2
        self.net = ConditioningNet(half + context_in, half * per_element, filters, blocks, attention, heads)
        self.rescale = nn.Parameter(torch.ones(1, half, 1, 1))
        if kind == "mixture":
            self.spread_means()

    def _mixture_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The output convolution's weight and bias viewed per transformed channel: ``(half, 2 + 3K, ...)``."""
        out = self.net.out
        per_element = 2 + 3 * self.components
        return out.weight.view(-1, per_element, *out.weight.shape[1:]), out.bias.view(-1, per_element)

    @torch.no_grad()
    def spread_means(self) -> None:
        """Add distinct offsets to the K components' mean biases, breaking their symmetry."""
        k = self.components
        if k < 2:
            return
        _, bias = self._mixture_rows()
        bias[:, 2 + k : 2 + 2 * k] += torch.linspace(-MEAN_SPREAD, MEAN_SPREAD, k, dtype=bias.dtype)

    @torch.no_grad()
    def components_identical(self) -> bool:
        """Whether all K components have the same parameters for every input (a mixture that cannot separate)."""
        if self.kind != "mixture" or self.components < 2:
            return False
        k = self.components
        weight, bias = self._mixture_rows()
        blocks = (rows[:, 2 + i * k : 2 + (i + 1) * k] for rows in (weight, bias) for i in range(3))
        return all(bool((block == block[:, :1]).all()) for block in blocks)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x -> (x1, x2)``: conditioning and transformed halves."""
        return self.splitter.split(x)

    def merge(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.splitter.merge(x1, x2)

    def _params(self, x1: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        inputs = [x1]
        if context is not None:
            inputs.extend(
                self.splitter.split(context) if isinstance(self.splitter, CheckerboardSplit) else [context]
            )
        h = self.net(torch.cat(inputs, dim=1))
        b, _, height, width = h.shape
        h = h.view(b, x1.shape[1], -1, height, width)
        a = self.rescale * torch.tanh(h[:, :, 0])
        shift = h[:, :, 1]
        if self.kind == "affine":
            return a, shift
        k = self.components
        logits, means, log_scales = (h[:, :, 2 + i * k : 2 + (i + 1) * k].movedim(2, -1) for i in range(3))
        return a, shift, logits, means, log_scales.clamp(min=MIN_LOG_SCALE)

    def elementwise(
        self, x2: torch.Tensor, x1: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The elementwise map applied to ``x2`` given ``x1``: ``(y2, log |dy2/dx2|)``, both shaped like ``x2``."""
        a, shift, *mix = self._params(x1, context)
        if self.kind == "affine":
            return x2 * torch.exp(a) + shift, a.expand_as(x2)
        u, log_du = mixlogistic_logit_cdf(x2, *mix)
        return u * torch.exp(a) + shift, log_du + a

    def elementwise_inverse(
        self, y2: torch.Tensor, x1: torch.Tensor, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Invert :meth:`elementwise` (mixture: the native kernel via :func:`mixlogistic_inverse`)."""
        a, shift, *mix = self._params(x1, context)
        u = (y2 - shift) * torch.exp(-a)
        return u if self.kind == "affine" else mixlogistic_inverse(u, *mix)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = self.split(x)
        y2, log_d = self.elementwise(x2, x1, context)
        return self.merge(x1, y2), log_d.flatten(1).sum(dim=1)

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        y1, y2 = self.split(y)
        return self.merge(y1, self.elementwise_inverse(y2, y1, context))
