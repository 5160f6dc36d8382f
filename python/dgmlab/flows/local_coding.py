"""Flow++ layers seen through the layer protocols of :mod:`dgmlab.coding.local_bitsback`.

    from dgmlab.flows.local_coding import FlowPlusPlusCoder
    coder = FlowPlusPlusCoder(model, batch_shape=(16, 3, 32, 32))      # float64 copy of the model, on the CPU
    msg = Message(num_streams=16, seed=0)
    coder.codec().push(msg, images)                                    # uint8 NCHW, Algorithm 3.4 + 3.5.4.3
    images = coder.codec().pop(msg)

Every model output that feeds a CDF is computed here in float64 from the decoded symbols, with the same batch layout
on both sides, by the networks on ``device`` (default the CPU; the coder and the CDFs always run on the CPU); the
caller fixes ``torch.set_num_threads`` and the device and records them (the compressor does).
The coder direction of the variational dequantizer is ``u -> eps`` (the flow towards its prior), so its layers are
wrapped inverted: logit first, then the dequantizer's layers last to first, each run backwards.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from dgmlab.coding import Uniform
from dgmlab.coding.local_bitsback import Dequantized, FlowCodec, LocalParams
from dgmlab.flows.couplings import Coupling
from dgmlab.flows.dequantizers import UniformDequantizer, VariationalDequantizer
from dgmlab.flows.layers import ActNorm, InvConv1x1, Logit, Sigmoid, Squeeze
from dgmlab.flows.mixlogistic import mixlogistic_inverse, mixlogistic_logit_cdf
from dgmlab.flows.model import FlowPlusPlus

__all__ = ["BlackBoxFlow", "FlowPlusPlusCoder", "coding_device", "coding_layer", "fuse_pixel_layers",
           "inverted_coding_layer"]

DTYPE = torch.float64
CPU = torch.device("cpu")


def _t(a: np.ndarray, device: torch.device) -> torch.Tensor:
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.dtype == np.int64 else a.astype(np.float64, copy=False)).to(device)


def _n(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class _Elementwise:
    """An elementwise layer (actnorm, logit, sigmoid); ``inverted`` swaps the directions."""

    def __init__(self, layer: nn.Module, inverted: bool = False, device: torch.device = CPU) -> None:
        self.layer, self.inverted, self.device = layer, inverted, device

    @torch.no_grad()
    def forward(self, x: np.ndarray) -> np.ndarray:
        t = _t(x, self.device)
        return _n(self.layer.inverse(t) if self.inverted else self.layer(t)[0])

    @torch.no_grad()
    def inverse(self, y: np.ndarray) -> np.ndarray:
        t = _t(y, self.device)
        return _n(self.layer(t)[0] if self.inverted else self.layer.inverse(t))

    @torch.no_grad()
    def log_derivative(self, x: np.ndarray) -> np.ndarray:
        t = _t(x, self.device)
        if self.inverted:  # log |(g^-1)'(x)| = -log |g'(g^-1(x))|
            return _n(-self.layer.log_derivative(self.layer.inverse(t)).expand_as(t))
        return _n(self.layer.log_derivative(t).expand_as(t))


class _Conv1x1:
    """An invertible 1x1 convolution: one ``c x c`` block per pixel (``W``, or ``W^-1`` inverted)."""

    def __init__(self, layer: InvConv1x1, inverted: bool = False, device: torch.device = CPU) -> None:
        self.layer, self.inverted, self.device = layer, inverted, device

    def _matrix(self) -> torch.Tensor:
        w = self.layer.matrix().detach()
        return torch.linalg.inv(w) if self.inverted else w

    @torch.no_grad()
    def forward(self, x: np.ndarray) -> np.ndarray:
        return _n(torch.einsum("ij,bjhw->bihw", self._matrix(), _t(x, self.device)))

    @torch.no_grad()
    def inverse(self, y: np.ndarray) -> np.ndarray:
        return _n(torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self._matrix()), _t(y, self.device)))

    def jacobian_blocks(self, x: np.ndarray) -> np.ndarray:
        b, c, h, w = x.shape
        return np.broadcast_to(_n(self._matrix()), (b, h, w, c, c))


class _PixelChain:
    """A run of per-pixel layers (elementwise maps and 1x1 convolutions) coded as one block layer.

    Their composition acts on each pixel's c channels alone, so its Jacobian is block diagonal with the c x c block
    ``J_k ... J_1`` (each elementwise factor ``diag(exp(log_derivative))`` at its own input); coding the run as one
    layer (Algorithm 3.1 per block) needs one pop and one push per value instead of one per layer.
    """

    def __init__(self, layers: list[_Elementwise | _Conv1x1]) -> None:
        self.layers = layers

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def inverse(self, y: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def jacobian_blocks(self, x: np.ndarray) -> np.ndarray:
        b, c, h, w = x.shape
        J = np.broadcast_to(np.eye(c), (b, h, w, c, c))
        for layer in self.layers:
            if isinstance(layer, _Conv1x1):
                J = np.einsum("ij,bhwjk->bhwik", _n(layer._matrix()), J)
            else:
                J = np.exp(np.moveaxis(layer.log_derivative(x), 1, -1))[..., :, None] * J
            x = layer.forward(x)
        return np.ascontiguousarray(J)


def _constant_pixel_layer(layer: object) -> bool:
    return isinstance(layer, _Conv1x1) or (isinstance(layer, _Elementwise) and isinstance(layer.layer, ActNorm))


def fuse_pixel_layers(layers: list[object]) -> list[object]:
    """Replace each run of two or more consecutive actnorm / 1x1 convolution layers by one :class:`_PixelChain`.

    Only layers with constant Jacobians are fused, so each fused block's conditioning is that of the weights; the
    logit and sigmoid, whose derivatives span orders of magnitude within a pixel, stay separate (1x1 blocks).
    """
    out: list[object] = []
    run: list[_Elementwise | _Conv1x1] = []
    for layer in [*layers, None]:
        if _constant_pixel_layer(layer):
            run.append(layer)
            continue
        out.extend([_PixelChain(run)] if len(run) > 1 else run)
        run = []
        if layer is not None:
            out.append(layer)
    return out


class _Coupling:
    """A coupling layer (optionally with a fixed context map, as in the dequantizer); ``inverted`` swaps g, g^-1."""

    def __init__(self, layer: Coupling, context: torch.Tensor | None = None, inverted: bool = False,
                 device: torch.device = CPU) -> None:
        self.layer, self.context, self.inverted, self.device = layer, context, inverted, device
        self._cached: tuple[np.ndarray, tuple[torch.Tensor, ...]] | None = None

    def _params(self, x1: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The conditioning net's output for ``x1``, kept for the next call with equal ``x1``: local bits-back asks
        for g and g^-1 at the same ``x1`` in a row, so the net runs once per layer and direction, as in a plain pass.
        """
        if self._cached is None or not np.array_equal(self._cached[0], x1):
            self._cached = (x1.copy(), self.layer._params(_t(x1, self.device), self.context))
        return self._cached[1]

    def _g(self, x2: torch.Tensor, x1: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        a, shift, *mix = self._params(x1)
        if self.layer.kind == "affine":
            return x2 * torch.exp(a) + shift, a.expand_as(x2)
        u, log_du = mixlogistic_logit_cdf(x2, *mix)
        return u * torch.exp(a) + shift, log_du + a

    def _g_inverse(self, y2: torch.Tensor, x1: np.ndarray) -> torch.Tensor:
        # the mixture is inverted by the native Newton-bisection kernel (float64, deterministic; its tolerance,
        # 2^-40 of the smallest scale, is far below the coding noise sigma)
        a, shift, *mix = self._params(x1)
        u = (y2 - shift) * torch.exp(-a)
        return u if self.layer.kind == "affine" else mixlogistic_inverse(u, *mix)

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.layer.split(_t(x, self.device))
        return _n(a).copy(), _n(b).copy()

    def merge(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return _n(self.layer.merge(_t(x1, self.device), _t(x2, self.device))).copy()

    @torch.no_grad()
    def elementwise(self, x2: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t2 = _t(x2, self.device)
        if self.inverted:
            v = self._g_inverse(t2, x1)
            return _n(v), _n(-self._g(v, x1)[1])
        y, log_d = self._g(t2, x1)
        return _n(y), _n(log_d)

    @torch.no_grad()
    def elementwise_inverse(self, y2: np.ndarray, x1: np.ndarray) -> np.ndarray:
        t2 = _t(y2, self.device)
        return _n(self._g(t2, x1)[0] if self.inverted else self._g_inverse(t2, x1))


class _Squeeze:
    """Space-to-depth: a permutation of coordinates, applied to the symbols themselves."""

    volume_preserving = True

    def __init__(self, layer: Squeeze, inverted: bool = False, device: torch.device = CPU) -> None:
        self.layer, self.inverted, self.device = layer, inverted, device

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = _t(x, self.device)
        return _n(self.layer.inverse(t) if self.inverted else self.layer(t)[0]).copy()

    def inverse(self, y: np.ndarray) -> np.ndarray:
        t = _t(y, self.device)
        return _n(self.layer(t)[0] if self.inverted else self.layer.inverse(t)).copy()


def coding_layer(layer: nn.Module, context: torch.Tensor | None = None, inverted: bool = False,
                 device: torch.device = CPU) -> object:
    """The local bits-back view of one Flow++ layer (``inverted``: of its inverse) whose weights are on ``device``."""
    if isinstance(layer, (ActNorm, Logit, Sigmoid)):
        return _Elementwise(layer, inverted, device)
    if isinstance(layer, InvConv1x1):
        return _Conv1x1(layer, inverted, device)
    if isinstance(layer, Coupling):
        return _Coupling(layer, context, inverted, device)
    if isinstance(layer, Squeeze):
        return _Squeeze(layer, inverted, device)
    raise ValueError(f"no local bits-back view for layer {type(layer).__name__}")


def inverted_coding_layer(layer: nn.Module, context: torch.Tensor | None = None, device: torch.device = CPU
                          ) -> object:
    """The local bits-back view of a layer's inverse (the dequantizer is coded towards its prior)."""
    return coding_layer(layer, context, inverted=True, device=device)


class BlackBoxFlow:
    """A whole flow (list of layers) as one black box: Jacobian by autograd, one example at a time (Algorithm 3.1)."""

    def __init__(self, layers: nn.ModuleList, device: torch.device = CPU) -> None:
        self.layers, self.device = layers, device

    def _f(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)[0]
        return x

    @torch.no_grad()
    def forward(self, x: np.ndarray) -> np.ndarray:
        return _n(self._f(_t(x, self.device)))

    @torch.no_grad()
    def inverse(self, y: np.ndarray) -> np.ndarray:
        h = _t(y, self.device)
        for layer in reversed(self.layers):
            h = layer.inverse(h)
        return _n(h)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        t = _t(x, self.device)
        shape = t.shape[1:]
        out = []
        for xb in t:
            def f(v: torch.Tensor) -> torch.Tensor:
                return self._f(v.view(1, *shape)).flatten()
            out.append(torch.autograd.functional.jacobian(f, xb.flatten(), vectorize=True))
        return _n(torch.stack(out))


def coding_device(spec: str | torch.device) -> torch.device:
    """The torch device the coder's networks run on: ``"cpu"`` or ``"cuda"`` / ``"cuda:N"`` when torch sees it."""
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {spec!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: torch sees no CUDA device here (use 'cpu')")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return device


class FlowPlusPlusCoder:
    """Builds the local bits-back codecs of a :class:`FlowPlusPlus` for one batch layout (float64 copy).

    :param model: the model (left untouched; a float64 copy in eval mode on ``device`` is used).
    :param batch_shape: ``(B, C, H, W)`` of the integer images coded together.
    :param params: δ, σ, range.
    :param fuse: code each run of actnorm / 1x1 convolution layers as one block layer
        (:func:`fuse_pixel_layers`, what ``dgmlab compress`` does); part of the code, so the decoder must use the
        same setting.
    :param device: where the networks run (:func:`coding_device`). The coder itself, the Cholesky factors and every
        CDF are computed on the CPU from the networks' float64 outputs, so a decoder reproduces the encoder's bits
        only on the same kind of device with the same software (a GPU's kernels need not match the CPU's bits).
    """

    def __init__(self, model: FlowPlusPlus, batch_shape: tuple[int, int, int, int],
                 params: LocalParams | None = None, fuse: bool = True, device: str | torch.device = "cpu") -> None:
        params = params or LocalParams()
        self.device = coding_device(device)
        self.model = copy.deepcopy(model).to(device=self.device, dtype=DTYPE).eval()
        self.batch_shape, self.params, self.fuse = tuple(batch_shape), params, fuse
        self.scale = round(1.0 / params.delta)
        layers = [coding_layer(layer, device=self.device) for layer in self.model.flow]
        self.flow = FlowCodec(self._group(layers), self.batch_shape, params, data_support=(0, 256 * self.scale - 1))

    def _group(self, layers: list[object]) -> list[object]:
        return fuse_pixel_layers(layers) if self.fuse else layers

    def dequantizer(self, x: np.ndarray) -> FlowCodec | Uniform:
        """The codec of ``ū`` given integer images ``x`` (float array): the dequantizer flow towards its prior."""
        deq = self.model.dequantizer
        if isinstance(deq, UniformDequantizer):
            return Uniform(self.scale, self.batch_shape)
        assert isinstance(deq, VariationalDequantizer)
        with torch.no_grad():
            context = deq.context(_t(x, self.device))
        layers = [inverted_coding_layer(deq.sigmoid, device=self.device)]
        layers += [inverted_coding_layer(layer, context if isinstance(layer, Coupling) else None, self.device)
                   for layer in reversed(deq.flow)]
        return FlowCodec(self._group(layers), self.batch_shape, self.params, data_support=(1, self.scale - 1))

    def codec(self) -> Dequantized:
        """Algorithm 3.4 over the compositional model codec: codes int arrays of ``batch_shape`` in 0..255."""
        return Dequantized(self.flow, self.dequantizer, levels=(0, 255))

    def blackbox_codec(self) -> FlowCodec:
        """The model flow coded as one black box (Algorithm 3.1), for comparison with the compositional codec."""
        return FlowCodec([BlackBoxFlow(self.model.flow, self.device)], self.batch_shape, self.params,
                         data_support=(0, 256 * self.scale - 1))

    @torch.no_grad()
    def theoretical_bits(self, x: np.ndarray, u_symbols: np.ndarray) -> np.ndarray:
        """``log q(ū|x) - log p(x + ū)`` in bits per example for given noise symbols (Eq. 3.44)."""
        xt = _t(x.astype(np.float64), self.device)
        u = _t(u_symbols.astype(np.float64) / self.scale, self.device)
        log_q = self.model.dequantizer.log_prob(u, xt) if isinstance(
            self.model.dequantizer, VariationalDequantizer) else torch.zeros(xt.shape[0], dtype=DTYPE,
                                                                             device=self.device)
        return _n((log_q - self.model.log_prob(xt + u)) / np.log(2.0))

