"""Entropy models as codecs: ``push(msg, symbols)`` and ``pop(msg) -> symbols``, vectorised over arrays.

>>> import numpy as np
>>> from dgmlab.coding import Message, DiscretizedGaussian
>>> mean, std = np.zeros(5), np.full(5, 2.0**-14)
>>> g = DiscretizedGaussian(mean, std, bin_width=2.0**-32, support=(-2**41, 2**41))
>>> msg = Message(num_streams=2, seed=0)
>>> symbols = np.array([0, 5, -70000, 123456, 2**20])
>>> g.push(msg, symbols)
>>> g.pop(Message.from_bytes(msg.to_bytes())).tolist() == symbols.tolist()
True

Every model gives every symbol of its support a nonzero frequency, and its integer CDF is computed by one
deterministic code path (IEEE-754 basic operations only), so a message decodes on any machine. Arguments are
validated where they enter: shapes and dtypes here, values (finiteness, scales, supports, probabilities) in the
native layer; both raise ``ValueError`` naming the argument.

Grid models (``DiscretizedGaussian``, ``DiscretizedLogistic``, ``DiscretizedMixtureLogistic``): the integer symbol
k in ``support = (lo, hi)`` stands for the bin ``[(k - 1/2) w, (k + 1/2) w)`` with ``w = bin_width``; the end bins
also take the tails. Supports of any size up to 2^62 bins are coded without enumerating them.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np

from dgmlab.coding._ext import _native
from dgmlab.coding.message import Message

__all__ = [
    "DEFAULT_BIN_WIDTH",
    "Categorical",
    "DiscretizedGaussian",
    "DiscretizedLogistic",
    "DiscretizedMixtureLogistic",
    "GaussianBuckets",
    "Uniform",
]

DEFAULT_BIN_WIDTH = 2.0**-32
_DEFAULT_RANGE = 2.0**9  # default support: the bins covering [-2^9, 2^9] in data units


def _floats(name: str, value: object) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a real-valued array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _check_message(msg: object) -> Message:
    if not isinstance(msg, Message):
        raise ValueError(f"msg: expected a dgmlab.coding.Message, got {type(msg).__name__}")
    return msg


def _symbols(value: object, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"symbols: expected an integer array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"symbols: expected shape {shape} (the codec's parameter shape), got {arr.shape}")
    if arr.dtype == np.uint64 and arr.size and arr.max() >= 2**63:
        raise ValueError("symbols: values must fit in int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _shape(shape: object, name: str = "shape") -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    if not isinstance(shape, Seq) or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in shape):
        raise ValueError(f"{name}: expected a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in shape)


def _support(support: object, bin_width: float) -> tuple[int, int]:
    if support is None:
        half = int(np.floor(_DEFAULT_RANGE / bin_width + 0.5))
        return -half, half
    if not isinstance(support, Seq) or len(support) != 2:
        raise ValueError(f"support: expected a pair (lo, hi) of ints, got {support!r}")
    lo, hi = support
    if not all(isinstance(v, (int, np.integer)) for v in (lo, hi)):
        raise ValueError(f"support: expected a pair (lo, hi) of ints, got {support!r}")
    if not -(2**62) <= lo <= hi <= 2**62:
        raise ValueError(f"support: expected -2**62 <= lo <= hi <= 2**62, got ({lo}, {hi})")
    return int(lo), int(hi)


def _bin_width(bin_width: float) -> float:
    w = float(bin_width)
    if not (np.isfinite(w) and w > 0):
        raise ValueError(f"bin_width: expected a finite value > 0, got {bin_width!r}")
    return w


class Uniform:
    """Uniform over ``size`` values ``0 .. size - 1`` (any size up to 2^62; exact for powers of two)."""

    def __init__(self, size: int, shape: object = ()) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= 2**62:
            raise ValueError(f"size: expected an int in [1, 2**62], got {size!r}")
        self.size = int(size)
        self.shape = _shape(shape)

    def push(self, msg: Message, symbols: object) -> None:
        _native.uniform_push(_check_message(msg)._impl, _symbols(symbols, self.shape), self.size)

    def pop(self, msg: Message) -> np.ndarray:
        n = int(np.prod(self.shape, dtype=np.int64))
        return _native.uniform_pop(_check_message(msg)._impl, n, self.size).reshape(self.shape)


class Categorical:
    """Categorical over ``0 .. K-1``.

    ``probs`` is either ``(..., K)`` with one distribution per symbol (the codec's shape is ``probs.shape[:-1]``),
    or ``(K,)`` shared by all symbols, with ``shape`` giving the array shape. Rows must sum to 1 within 1e-6.
    ``precision`` (bits of the quantised CDF) defaults to 16 for a shared table (decoded by table lookup) and 24
    for per-symbol rows.
    """

    def __init__(self, probs: object, shape: object = None, precision: int | None = None) -> None:
        p = _floats("probs", probs)
        if p.ndim == 0 or p.shape[-1] == 0:
            raise ValueError(f"probs: expected an array (..., K) with K >= 1, got shape {p.shape}")
        self.shared = shape is not None
        if self.shared:
            if p.ndim != 1:
                raise ValueError(f"probs: with shape= give one shared (K,) distribution, got shape {p.shape}")
            self.shape = _shape(shape)
        else:
            self.shape = p.shape[:-1]
        self.num_categories = p.shape[-1]
        self.precision = precision if precision is not None else (16 if self.shared else 24)
        if not isinstance(self.precision, int) or not 1 <= self.precision <= 31:
            raise ValueError(f"precision: expected an int in [1, 31], got {precision!r}")
        if self.shared:
            self._table = _native.CategoricalTable(p, self.precision)
        else:
            self._rows = p.reshape(-1, self.num_categories)

    def push(self, msg: Message, symbols: object) -> None:
        s = _symbols(symbols, self.shape)
        if self.shared:
            self._table.push(_check_message(msg)._impl, s)
        else:
            _native.categorical_push(_check_message(msg)._impl, s.reshape(-1), self._rows, self.precision)

    def pop(self, msg: Message) -> np.ndarray:
        if self.shared:
            out = self._table.pop(_check_message(msg)._impl, int(np.prod(self.shape, dtype=np.int64)))
        else:
            out = _native.categorical_pop(_check_message(msg)._impl, self._rows, self.precision)
        return out.reshape(self.shape)


class _LocationScale:
    _push = _pop = None  # native entry points
    _scale_name = "scale"

    def __init__(self, loc: object, scale: object, bin_width: float, support: object) -> None:
        loc_arr, scale_arr = _floats("mean", loc), _floats(self._scale_name, scale)
        try:
            loc_arr, scale_arr = np.broadcast_arrays(loc_arr, scale_arr)
        except ValueError:
            raise ValueError(
                f"mean and {self._scale_name}: shapes {loc_arr.shape} and {scale_arr.shape} do not broadcast"
            ) from None
        self.shape = loc_arr.shape
        self.bin_width = _bin_width(bin_width)
        self.support = _support(support, self.bin_width)
        self._loc = np.ascontiguousarray(loc_arr).reshape(-1)
        self._scale = np.ascontiguousarray(scale_arr).reshape(-1)

    def push(self, msg: Message, symbols: object) -> None:
        s = _symbols(symbols, self.shape).reshape(-1)
        type(self)._push(_check_message(msg)._impl, s, self._loc, self._scale, self.bin_width, *self.support)

    def pop(self, msg: Message) -> np.ndarray:
        out = type(self)._pop(_check_message(msg)._impl, self._loc, self._scale, self.bin_width, *self.support)
        return out.reshape(self.shape)

    def quantize(self, x: object) -> np.ndarray:
        """Symbols of the bins holding x: ``clip(floor(x / w + 1/2), lo, hi)``."""
        k = np.floor(_floats("x", x) / self.bin_width + 0.5)
        return np.clip(k, *self.support).astype(np.int64)


class DiscretizedGaussian(_LocationScale):
    """N(mean, std^2) discretised on a grid of bins of width ``bin_width`` over ``support = (lo, hi)``."""

    _push, _pop = staticmethod(_native.gaussian_push), staticmethod(_native.gaussian_pop)
    _scale_name = "std"

    def __init__(self, mean: object, std: object, bin_width: float = DEFAULT_BIN_WIDTH, support: object = None):
        super().__init__(mean, std, bin_width, support)


class DiscretizedLogistic(_LocationScale):
    """Logistic(mean, scale) discretised on a grid of bins of width ``bin_width`` over ``support = (lo, hi)``."""

    _push, _pop = staticmethod(_native.logistic_push), staticmethod(_native.logistic_pop)

    def __init__(self, mean: object, scale: object, bin_width: float = DEFAULT_BIN_WIDTH, support: object = None):
        super().__init__(mean, scale, bin_width, support)


class DiscretizedMixtureLogistic:
    """Mixture of K logistics per symbol (PixelCNN++ parameters: weight logits, means, log-scales), each (..., K).

    For 8-bit images use ``bin_width=1`` and ``support=(0, 255)`` (or the scaled grid of your model).
    """

    def __init__(
        self,
        logits: object,
        means: object,
        log_scales: object,
        bin_width: float = DEFAULT_BIN_WIDTH,
        support: object = None,
    ) -> None:
        arrays = [_floats(n, v) for n, v in (("logits", logits), ("means", means), ("log_scales", log_scales))]
        if arrays[0].ndim == 0 or any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(
                "logits, means, log_scales: expected equal shapes (..., K), got "
                + ", ".join(str(a.shape) for a in arrays)
            )
        k = arrays[0].shape[-1]
        if not 1 <= k <= 64:
            raise ValueError(f"logits: expected 1..64 mixture components, got {k}")
        self.shape = arrays[0].shape[:-1]
        self.bin_width = _bin_width(bin_width)
        self.support = _support(support, self.bin_width)
        self._logits, self._means, self._log_scales = (a.reshape(-1, k) for a in arrays)

    def push(self, msg: Message, symbols: object) -> None:
        s = _symbols(symbols, self.shape).reshape(-1)
        _native.mixlogistic_push(
            _check_message(msg)._impl, s, self._logits, self._means, self._log_scales, self.bin_width, *self.support
        )

    def pop(self, msg: Message) -> np.ndarray:
        out = _native.mixlogistic_pop(
            _check_message(msg)._impl, self._logits, self._means, self._log_scales, self.bin_width, *self.support
        )
        return out.reshape(self.shape)


_BUCKET_TABLES: dict[int, object] = {}


class GaussianBuckets:
    """A Gaussian latent coded by prior-quantile ("max-entropy") buckets, as in BB-ANS and Bit-Swap.

    The real line is cut into ``2**precision`` buckets of equal mass under N(0, 1); a latent under N(mean, std^2)
    is coded as the index of its bucket, with probability the Gaussian's mass on that bucket. :meth:`values` gives
    the bucket centres (the prior quantiles at (i + 1/2) / 2^p), :meth:`bucket_of` the bucket of a real value.
    """

    def __init__(self, mean: object, std: object, precision: int = 8) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 18:
            raise ValueError(f"precision: expected an int in [1, 18], got {precision!r}")
        m, s = np.broadcast_arrays(_floats("mean", mean), _floats("std", std))
        self.shape = m.shape
        self.precision = precision
        if precision not in _BUCKET_TABLES:
            _BUCKET_TABLES[precision] = _native.GaussianBucketsTable(precision)
        self._table = _BUCKET_TABLES[precision]
        self._mean = np.ascontiguousarray(m).reshape(-1)
        self._std = np.ascontiguousarray(s).reshape(-1)

    @property
    def edges(self) -> np.ndarray:
        return self._table.edges

    @property
    def centres(self) -> np.ndarray:
        return self._table.centres

    def values(self, symbols: object) -> np.ndarray:
        return self.centres[np.asarray(symbols)]

    def bucket_of(self, x: object) -> np.ndarray:
        return (np.searchsorted(self.edges, _floats("x", x), side="right") - 1).astype(np.int64)

    def push(self, msg: Message, symbols: object) -> None:
        s = _symbols(symbols, self.shape).reshape(-1)
        self._table.push(_check_message(msg)._impl, s, self._mean, self._std)

    def pop(self, msg: Message) -> np.ndarray:
        return self._table.pop(_check_message(msg)._impl, self._mean, self._std).reshape(self.shape)
