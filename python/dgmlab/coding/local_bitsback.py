"""Local bits-back coding (thesis Section 3.5): lossless compression with flows on the rANS coder.

A flow ``z = f(x)`` with prior ``p(z)`` gives the density ``p(x) = p(f(x)) |det J_f(x)|``. Local bits-back coding
codes a point ``x̄`` of the fine grid (bin width δ) in about ``-log p(x̄) δ`` bits, without ever forming the joint
distribution over the grid: the encoder *decodes* ``z̄ ~ N(f(x̄), σ² J Jᵀ) δ`` from the message (auxiliary bits),
encodes ``x̄`` under ``N(f⁻¹(z̄), σ² I) δ`` and ``z̄`` under the prior; the decoder runs the steps backwards and gives
the bits it took for ``z̄`` back (Eq. 3.24-3.41).

>>> import numpy as np
>>> from dgmlab.coding import Message
>>> from dgmlab.coding.local_bitsback import FlowCodec, LocalParams, NumpyElementwise
>>> tanh = NumpyElementwise(np.tanh, np.arctanh, lambda x: -2.0 * np.log(np.cosh(x)))   # z = tanh(x)
>>> codec = FlowCodec([tanh], shape=(2, 3), params=LocalParams())
>>> x = codec.quantize(np.array([[0.1, -0.5, 0.3], [0.0, 0.9, -0.2]]))               # symbols on the δ grid
>>> msg = Message(num_streams=2, seed=0)
>>> codec.push(msg, x)
>>> bool((codec.pop(Message.from_bytes(msg.to_bytes())) == x).all())
True

Stack order: ``push`` walks the layers first to last (each pops its ``z̄`` and pushes its input), then pushes the
final ``z̄`` under ``N(0, I) δ``; ``pop`` pops the prior and walks the layers last to first. A layer is coded by the
algorithm that fits its Jacobian; the rest of the flow acts as its prior (the *compositional* method, 3.5.4.3):

- :class:`ElementwiseLayer`: diagonal Jacobian, Algorithm 3.1 with 1x1 blocks;
- :class:`BlockLayer`: per-position ``c x c`` blocks along axis 1 (invertible 1x1 convolutions), Algorithm 3.1
  block by block, each ``N(0, σ² J Jᵀ)`` coded as a linear autoregressive model (:func:`dgmlab.kernels.cholesky_to_ar`
  and :class:`~dgmlab.coding.DiscretizedLinearAR`);
- :class:`CouplingLayer`: Algorithm 3.3, parallel over coordinates both ways;
- :class:`AutoregressiveLayer`: Algorithm 3.2, net evaluations parallel when encoding, serial when decoding;
- :class:`PermutationLayer`: volume-preserving reindexing (squeeze), applied to symbols directly;
- :class:`BlackBoxLayer`: any flow, full Jacobian, Algorithm 3.1 (O(d²) space, O(d³) time).

:class:`Dequantized` is Algorithm 3.4: it turns a codec for fine-grid data into one for integer data with a
dequantizer flow ``q(u|x°)``. Everything here is numpy; models implement the protocols (``dgmlab.flows`` adapts
Flow++). Determinism: every number that feeds a CDF is recomputed by the decoder from the same symbols, so the layer
functions must be deterministic (same inputs and batch layout give the same bits).

Net codelength: ``msg.num_bits() - msg.initial_bits_used()``; the initial (auxiliary) bits are drawn from the
message's seeded source and reported separately. Inside :func:`tail_checks`, a bits-back sample that the coder drew
from a tail bucket raises :class:`TailSample`, so that an encoder can retry with other bits (``dgmlab compress``
does); decoding never checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dgmlab import kernels
from dgmlab.coding.codecs import DiscretizedGaussian
from dgmlab.coding.compose import Codec
from dgmlab.coding.linear_ar import DiscretizedLinearAR
from dgmlab.coding.message import Message

__all__ = [
    "AutoregressiveLayer",
    "BlackBoxLayer",
    "BlockLayer",
    "CouplingLayer",
    "Dequantized",
    "ElementwiseLayer",
    "FlowCodec",
    "LocalParams",
    "NumpyElementwise",
    "PermutationLayer",
    "TailSample",
    "net_bits",
    "tail_checks",
]


@dataclass(frozen=True)
class LocalParams:
    """Grid and noise of local bits-back coding (thesis defaults)."""

    delta: float = 2.0**-32
    """Bin width δ of every coordinate of x̄ and of every intermediate z̄ (δ_x = δ_z)."""
    sigma: float = 2.0**-14
    """Noise level σ of the Gaussians ``N(f(x̄), σ² J Jᵀ)`` and ``N(f⁻¹(z̄), σ² I)``."""
    value_range: float = 2.0**15
    """Intermediate values are coded on the bins covering ``[-value_range, value_range]`` (end bins take tails)."""

    def __post_init__(self) -> None:
        for name in ("delta", "sigma", "value_range"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"LocalParams.{name}: expected a finite value > 0, got {v!r}")
        if self.value_range / self.delta > 2.0**62:
            raise ValueError(f"LocalParams: value_range / delta must be <= 2**62, got {self.value_range / self.delta}")

    @property
    def support(self) -> tuple[int, int]:
        half = int(self.value_range / self.delta)
        return -half, half


@runtime_checkable
class ElementwiseLayer(Protocol):
    """``y_i = f_i(x_i)``: ``log_derivative(x)`` is ``log |f_i'(x_i)|``, shaped like x."""

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def inverse(self, y: np.ndarray) -> np.ndarray: ...

    def log_derivative(self, x: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class BlockLayer(Protocol):
    """A map with a block-diagonal Jacobian: one ``c x c`` block per position of the axes other than axis 1.

    ``jacobian_blocks(x)`` has shape ``(x.shape[0], *x.shape[2:], c, c)`` with ``c = x.shape[1]``.
    """

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def inverse(self, y: np.ndarray) -> np.ndarray: ...

    def jacobian_blocks(self, x: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class CouplingLayer(Protocol):
    """``x -> (x1, x2)``; ``y = merge(x1, g(x2; x1))`` with g elementwise. split/merge also take int64 symbols."""

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def merge(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray: ...

    def elementwise(self, x2: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(g(x2; x1), log |g'(x2; x1)|)``."""
        ...

    def elementwise_inverse(self, y2: np.ndarray, x1: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class AutoregressiveLayer(Protocol):
    """``z_i = g_i(x_i; x_<i)`` over the flattened coordinates of each example (order 0 .. d-1).

    All arrays are ``(B, d)``. ``conditioner(x)`` returns parameters whose entry for coordinate i depends on ``x_<i`` only
    and is bit-identical whatever ``x_>=i`` holds (masked weights are exact zeros); ``elementwise`` and
    ``elementwise_inverse`` apply g and g⁻¹ coordinatewise under them.
    """

    def conditioner(self, x: np.ndarray) -> Any: ...

    def elementwise(self, x: np.ndarray, params: Any) -> tuple[np.ndarray, np.ndarray]: ...

    def elementwise_inverse(self, z: np.ndarray, params: Any) -> np.ndarray: ...


@runtime_checkable
class PermutationLayer(Protocol):
    """A reindexing of coordinates (``volume_preserving = True``); forward/inverse are applied to int64 symbols."""

    volume_preserving: bool

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def inverse(self, y: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class BlackBoxLayer(Protocol):
    """Any flow: ``jacobian(x)`` is ``(B, d, d)`` over the flattened coordinates (d = x[0].size = y[0].size)."""

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def inverse(self, y: np.ndarray) -> np.ndarray: ...

    def jacobian(self, x: np.ndarray) -> np.ndarray: ...


Layer = ElementwiseLayer | BlockLayer | CouplingLayer | AutoregressiveLayer | PermutationLayer | BlackBoxLayer


@dataclass(frozen=True)
class NumpyElementwise:
    """An elementwise layer from three numpy functions (for tests, examples and simple fixed maps)."""

    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    log_derivative: Callable[[np.ndarray], np.ndarray]


def net_bits(msg: Message) -> float:
    """Net codelength of a message: its bits minus the initial bits it drew (the auxiliary bits)."""
    return msg.num_bits() - msg.initial_bits_used()


def _kind(layer: object) -> str:
    # Most specific first: a permutation also has forward/inverse, a coupling has an elementwise part.
    for name, proto in (("permutation", PermutationLayer), ("coupling", CouplingLayer),
                        ("autoregressive", AutoregressiveLayer), ("block", BlockLayer),
                        ("elementwise", ElementwiseLayer), ("blackbox", BlackBoxLayer)):
        if isinstance(layer, proto) and (name != "permutation" or layer.volume_preserving):
            return name
    raise ValueError(f"layer {type(layer).__name__} implements none of the local bits-back layer protocols")


class _Grid:
    """Gaussians on the δ grid with one support."""

    def __init__(self, params: LocalParams, support: tuple[int, int]) -> None:
        self.params, self.support = params, support

    def gauss(self, mean: np.ndarray, std: np.ndarray | float) -> DiscretizedGaussian:
        return DiscretizedGaussian(mean, std, bin_width=self.params.delta, support=self.support)

    def values(self, symbols: np.ndarray) -> np.ndarray:
        return symbols.astype(np.float64) * self.params.delta

    def sample(self, msg: Message, mean: np.ndarray, std: np.ndarray | float) -> np.ndarray:
        """Pop from ``N(mean, std²) δ`` (a bits-back sample when encoding), checked inside :func:`tail_checks`."""
        symbols = self.gauss(mean, std).pop(msg)
        if _TAIL_CHECK.get():
            _check_tail(self.values(symbols), mean, std)
        return symbols


_TAIL_CHECK: ContextVar[bool] = ContextVar("dgmlab_local_bitsback_tail_check", default=False)
TAIL_LIMIT = 16.0
"""A bits-back sample further than this many standard deviations from its mean came from the coder's tail buckets."""


class TailSample(ValueError):
    """A bits-back pop landed in the coder's tail buckets, where it is uniform over a huge range.

    Every bucket of the quantised CDF has a frequency of at least one, so a pop lands in one of the (up to 16) tail
    buckets with probability ~2^-precision per value, far above the Gaussian's own tail mass; the value is then
    absurd (thousands of standard deviations out) and the rest of the flow pays for it, thousands of bits for the
    batch. Lossless either way; raised only inside :func:`tail_checks` so an encoder can retry with other bits.
    """


@contextmanager
def tail_checks() -> Iterator[None]:
    """Within this block, bits-back samples beyond :data:`TAIL_LIMIT` standard deviations raise :class:`TailSample`."""
    token = _TAIL_CHECK.set(True)
    try:
        yield
    finally:
        _TAIL_CHECK.reset(token)


def _check_tail(values: np.ndarray, mean: np.ndarray, spread: np.ndarray | float) -> None:
    if np.any(np.abs(values - mean) > TAIL_LIMIT * np.asarray(spread)):
        raise TailSample(f"a bits-back sample landed more than {TAIL_LIMIT:g} standard deviations out")


def _check_finite(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: the flow produced non-finite values (input outside its domain?)")
    return a


# One layer, both directions. Each `_enc_*` takes the input symbols, pops z̄ and pushes x̄, returning z̄;
# each `_dec_*` takes z̄, pops x̄ and pushes z̄, returning x̄. `gx` is the grid of x̄, `gz` the grid of z̄.

def _enc_elementwise(layer: ElementwiseLayer, msg: Message, xs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    x = gx.values(xs)
    sigma = gz.params.sigma
    zs = gz.sample(msg, _check_finite("f(x)", layer.forward(x)), sigma * np.exp(layer.log_derivative(x)))
    gx.gauss(_check_finite("f^-1(z)", layer.inverse(gz.values(zs))), sigma).push(msg, xs)
    return zs


def _dec_elementwise(layer: ElementwiseLayer, msg: Message, zs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    sigma = gz.params.sigma
    xs = gx.sample(msg, _check_finite("f^-1(z)", layer.inverse(gz.values(zs))), sigma)
    x = gx.values(xs)
    gz.gauss(_check_finite("f(x)", layer.forward(x)), sigma * np.exp(layer.log_derivative(x))).push(msg, zs)
    return xs


def _to_blocks(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1).reshape(-1, a.shape[1]))


def _from_blocks(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    moved = (shape[0], *shape[2:], shape[1])
    return np.ascontiguousarray(np.moveaxis(a.reshape(moved), -1, 1))


class _Posterior:
    """``N(mean, σ² J Jᵀ) δ`` as a linear AR codec, with each coordinate's marginal std for the tail check."""

    def __init__(self, mean: np.ndarray, J: np.ndarray, gz: _Grid) -> None:
        ar = kernels.cholesky_to_ar(J, sigma=gz.params.sigma)
        self.mean, self.L, self.grid = mean, ar.L, gz
        self.codec = DiscretizedLinearAR(mean, ar.coeffs, ar.std, bin_width=gz.params.delta, support=gz.support)

    def push(self, msg: Message, symbols: np.ndarray) -> None:
        self.codec.push(msg, symbols)

    def sample(self, msg: Message) -> np.ndarray:
        symbols = self.codec.pop(msg)
        if _TAIL_CHECK.get():  # marginal std of coordinate i: the norm of row i of L
            _check_tail(self.grid.values(symbols), self.mean, np.sqrt(np.einsum("bij,bij->bi", self.L, self.L)))
        return symbols


def _block_posterior(layer: BlockLayer, x: np.ndarray, gz: _Grid) -> _Posterior:
    c = x.shape[1]
    J = np.ascontiguousarray(np.asarray(layer.jacobian_blocks(x), dtype=np.float64).reshape(-1, c, c))
    return _Posterior(_to_blocks(_check_finite("f(x)", layer.forward(x))), J, gz)


def _enc_block(layer: BlockLayer, msg: Message, xs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    zs = _from_blocks(_block_posterior(layer, gx.values(xs), gz).sample(msg), xs.shape)
    gx.gauss(_check_finite("f^-1(z)", layer.inverse(gz.values(zs))), gz.params.sigma).push(msg, xs)
    return zs


def _dec_block(layer: BlockLayer, msg: Message, zs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    xs = gx.sample(msg, _check_finite("f^-1(z)", layer.inverse(gz.values(zs))), gz.params.sigma)
    _block_posterior(layer, gx.values(xs), gz).push(msg, _to_blocks(zs))
    return xs


def _enc_coupling(layer: CouplingLayer, msg: Message, xs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    # Algorithm 3.3: z̄_1 = x̄_1; the transformed half is coded with 1-d local bits-back, all coordinates at once.
    # The pass-through half is coded on the input grid (same symbols), so only x̄_2 needs gx's support.
    xs1, xs2 = layer.split(xs)
    x1 = gx.values(xs1)
    y2, log_d = layer.elementwise(gx.values(xs2), x1)
    sigma = gz.params.sigma
    zs2 = gz.sample(msg, _check_finite("f(x)", y2), sigma * np.exp(log_d))
    mean_x2 = _check_finite("f^-1(z)", layer.elementwise_inverse(gz.values(zs2), x1))
    gx.gauss(mean_x2, sigma).push(msg, xs2)
    return layer.merge(xs1, zs2)


def _dec_coupling(layer: CouplingLayer, msg: Message, zs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    xs1, zs2 = layer.split(zs)
    x1 = gx.values(xs1)
    sigma = gz.params.sigma
    xs2 = gx.sample(msg, _check_finite("f^-1(z)", layer.elementwise_inverse(gz.values(zs2), x1)), sigma)
    y2, log_d = layer.elementwise(gx.values(xs2), x1)
    gz.gauss(_check_finite("f(x)", y2), sigma * np.exp(log_d)).push(msg, zs2)
    return layer.merge(xs1, xs2)


def _enc_autoregressive(layer: AutoregressiveLayer, msg: Message, xs: np.ndarray, gx: _Grid, gz: _Grid
                        ) -> np.ndarray:
    # Algorithm 3.2, encoder: one (parallel) conditioner evaluation on x̄, then coordinates d..1, each popping z̄_i
    # and pushing x̄_i (its mean g_i⁻¹(z̄_i; x̄_<i) needs only x̄_<i, known to the encoder).
    shape, flat = xs.shape, xs.reshape(xs.shape[0], -1)
    x = gx.values(flat)
    params = layer.conditioner(x)
    z, log_d = (np.asarray(a, dtype=np.float64).reshape(flat.shape) for a in layer.elementwise(x, params))
    zs, sigma = np.zeros_like(flat), gz.params.sigma
    for i in reversed(range(flat.shape[1])):
        zs[:, i] = gz.sample(msg, _check_finite("f(x)", z[:, i]), sigma * np.exp(log_d[:, i]))
        mean_x = layer.elementwise_inverse(gz.values(zs), params).reshape(flat.shape)[:, i]
        gx.gauss(_check_finite("f^-1(z)", mean_x), sigma).push(msg, flat[:, i].copy())
    return zs.reshape(shape)


def _dec_autoregressive(layer: AutoregressiveLayer, msg: Message, zs: np.ndarray, gx: _Grid, gz: _Grid
                        ) -> np.ndarray:
    # Algorithm 3.2, decoder: coordinates 1..d in serial, one conditioner evaluation each.
    shape, flat_z = zs.shape, zs.reshape(zs.shape[0], -1)
    z, xs, sigma = gz.values(flat_z), np.zeros_like(flat_z), gz.params.sigma
    for i in range(flat_z.shape[1]):
        params = layer.conditioner(gx.values(xs))
        mean_x = np.asarray(layer.elementwise_inverse(z, params), dtype=np.float64).reshape(flat_z.shape)[:, i]
        xs[:, i] = gx.sample(msg, _check_finite("f^-1(z)", mean_x), sigma)
        z_i, log_d = (np.asarray(a, dtype=np.float64).reshape(flat_z.shape)[:, i]
                      for a in layer.elementwise(gx.values(xs), params))
        gz.gauss(_check_finite("f(x)", z_i), sigma * np.exp(log_d)).push(msg, flat_z[:, i].copy())
    return xs.reshape(shape)


def _blackbox_posterior(layer: BlackBoxLayer, x: np.ndarray, gz: _Grid) -> tuple[_Posterior, tuple]:
    y = _check_finite("f(x)", layer.forward(x))
    b, d = x.shape[0], x[0].size
    J = np.ascontiguousarray(np.asarray(layer.jacobian(x), dtype=np.float64))
    if J.shape != (b, d, d):
        raise ValueError(f"jacobian: expected shape {(b, d, d)}, got {J.shape}")
    return _Posterior(y.reshape(b, d), J, gz), y.shape


def _enc_blackbox(layer: BlackBoxLayer, msg: Message, xs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    # Algorithm 3.1: z̄ ~ N(f(x̄), σ² J Jᵀ) δ as a linear AR model, then x̄ under N(f⁻¹(z̄), σ² I) δ.
    posterior, y_shape = _blackbox_posterior(layer, gx.values(xs), gz)
    zs = posterior.sample(msg).reshape(y_shape)
    gx.gauss(_check_finite("f^-1(z)", layer.inverse(gz.values(zs))), gz.params.sigma).push(msg, xs)
    return zs


def _dec_blackbox(layer: BlackBoxLayer, msg: Message, zs: np.ndarray, gx: _Grid, gz: _Grid) -> np.ndarray:
    mean_x = _check_finite("f^-1(z)", layer.inverse(gz.values(zs)))
    xs = gx.sample(msg, mean_x, gz.params.sigma)
    posterior, _ = _blackbox_posterior(layer, gx.values(xs), gz)
    posterior.push(msg, zs.reshape(zs.shape[0], -1))
    return xs


_STEPS = {
    "elementwise": (_enc_elementwise, _dec_elementwise),
    "block": (_enc_block, _dec_block),
    "coupling": (_enc_coupling, _dec_coupling),
    "autoregressive": (_enc_autoregressive, _dec_autoregressive),
    "blackbox": (_enc_blackbox, _dec_blackbox),
}


class FlowCodec:
    """Codes arrays of fine-grid symbols of one shape with a composite flow and the prior N(0, I) on the grid.

    :param layers: the flow's layers, first (applied to data) to last, each implementing one layer protocol.
    :param shape: shape of the data arrays, batch first (the batch layout is part of the code: the decoder must use
        the same).
    :param params: δ, σ and the range of intermediate values.
    :param data_support: symbol range of the data x̄ (default: that of ``params``); e.g. ``(1, 2**32 - 1)`` for
        dequantization noise in (0, 1) at δ = 2^-32.
    """

    def __init__(self, layers: Sequence[Any], shape: tuple[int, ...], params: LocalParams | None = None,
                 data_support: tuple[int, int] | None = None) -> None:
        params = params or LocalParams()
        self.layers, self.params = list(layers), params
        self.kinds = [_kind(layer) for layer in self.layers]
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise ValueError(f"shape: expected (batch, ...) with every size >= 1, got {shape!r}")
        lo, hi = params.support
        if data_support is not None and not (lo <= data_support[0] <= data_support[1] <= hi):
            raise ValueError(f"data_support: expected a range inside {params.support}, got {data_support!r}")
        self._grid = _Grid(params, params.support)
        self._data_grid = _Grid(params, tuple(data_support) if data_support is not None else params.support)
        self.latent_shape = self._shapes()[-1]

    def _shapes(self) -> list[tuple[int, ...]]:
        shapes, probe = [self.shape], np.zeros(self.shape, dtype=np.int64)
        for layer, kind in zip(self.layers, self.kinds):
            if kind in ("permutation", "blackbox"):
                probe = np.asarray(layer.forward(probe.astype(np.int64 if kind == "permutation" else np.float64)))
            shapes.append(tuple(probe.shape))
        return shapes

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Symbols of the data grid's bins holding x (``round(x / δ)`` clipped to the data support)."""
        return self._data_grid.gauss(0.0, 1.0).quantize(x).reshape(np.shape(x))

    def values(self, symbols: np.ndarray) -> np.ndarray:
        return self._grid.values(np.asarray(symbols))

    def _check(self, xs: Any) -> np.ndarray:
        xs = np.asarray(xs)
        if xs.dtype.kind not in "iu" or xs.shape != self.shape:
            raise ValueError(f"symbols: expected an integer array of shape {self.shape}, got {xs.dtype} "
                             f"{xs.shape}")
        lo, hi = self._data_grid.support
        if xs.size and (xs.min() < lo or xs.max() > hi):
            raise ValueError(f"symbols: expected values in the data support [{lo}, {hi}]")
        return xs.astype(np.int64)

    def push(self, msg: Message, xs: Any) -> None:
        """Encode ``xs`` (int64 symbols of ``shape``): layers first to last, then the prior."""
        h = self._check(xs)
        for i, (layer, kind) in enumerate(zip(self.layers, self.kinds)):
            gx = self._data_grid if i == 0 else self._grid
            if kind == "permutation":
                h = np.asarray(layer.forward(h), dtype=np.int64)
            else:
                h = _STEPS[kind][0](layer, msg, h, gx, self._grid)
        self._grid.gauss(np.zeros(self.latent_shape), 1.0).push(msg, h)

    def pop(self, msg: Message) -> np.ndarray:
        """Decode an array of symbols of ``shape``: the prior, then layers last to first."""
        h = self._grid.sample(msg, np.zeros(self.latent_shape), 1.0)
        for i in reversed(range(len(self.layers))):
            layer, kind = self.layers[i], self.kinds[i]
            gx = self._data_grid if i == 0 else self._grid
            if kind == "permutation":
                h = np.asarray(layer.inverse(h), dtype=np.int64)
            else:
                h = _STEPS[kind][1](layer, msg, h, gx, self._grid)
        return h


class Dequantized:
    """Algorithm 3.4: integer data x° coded with a flow codec for ``x° + u`` and a dequantizer flow for ``q(u|x°)``.

    :param model: a :class:`FlowCodec` for ``x̄ = x° + ū`` on the δ grid; its data support must cover
        ``[x_lo / δ, (x_hi + 1) / δ)``.
    :param dequantizer: ``x° -> codec`` of the noise symbols ``ū`` given x° (float array): a :class:`FlowCodec`
        of the dequantizer flow, or ``Uniform(1/δ)`` for uniform dequantization; its symbols must lie in
        ``[0, 1/δ)``, so that ``floor(x̄) = x°``.
    :param levels: the integer data range ``(x_lo, x_hi)``, e.g. ``(0, 255)``.

    push: ``ū <- q(·|x°).pop``; ``model.push(x° + ū)``. pop: ``x̄ <- model.pop``; ``x° = floor(x̄)``;
    ``q(·|x°).push(x̄ - x°)``. The net cost is ``log q(ū|x°) - log p(x° + ū)`` (Eq. 3.44).
    """

    def __init__(self, model: FlowCodec, dequantizer: Callable[[np.ndarray], Codec],
                 levels: tuple[int, int] = (0, 255)) -> None:
        scale = 1.0 / model.params.delta
        if scale != int(scale):
            raise ValueError(f"delta must be 1/integer for dequantization, got {model.params.delta}")
        self.model, self.dequantizer, self.levels, self.scale = model, dequantizer, levels, int(scale)

    def _check(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "iu" or x.shape != self.model.shape:
            raise ValueError(f"x: expected an integer array of shape {self.model.shape}, got {x.dtype} {x.shape}")
        if x.size and (x.min() < self.levels[0] or x.max() > self.levels[1]):
            raise ValueError(f"x: expected values in {self.levels}, got [{x.min()}, {x.max()}]")
        return x.astype(np.int64)

    def push(self, msg: Message, x: Any) -> None:
        x = self._check(x)
        us = self.dequantizer(x.astype(np.float64)).pop(msg)
        self.model.push(msg, x * self.scale + us)

    def pop(self, msg: Message) -> np.ndarray:
        xbar = self.model.pop(msg)
        x = np.floor_divide(xbar, self.scale)
        self.dequantizer(x.astype(np.float64)).push(msg, xbar - x * self.scale)
        return x
