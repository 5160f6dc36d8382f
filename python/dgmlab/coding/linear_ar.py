"""The "linear AR" codec: a batch of Gaussian vectors N(mean, Sigma) coded one coordinate at a time on the grid.

>>> import numpy as np
>>> from dgmlab import kernels
>>> from dgmlab.coding import Message, DiscretizedLinearAR
>>> rng = np.random.default_rng(0)
>>> J = rng.standard_normal((3, 4, 4))                    # Jacobian blocks of a flow at x
>>> ar = kernels.cholesky_to_ar(J, sigma=2.0**-10)       # N(0, sigma^2 J J^T) as an AR model
>>> mean = rng.standard_normal((3, 4))                    # f(x)
>>> codec = DiscretizedLinearAR(mean, ar.coeffs, ar.std, bin_width=2.0**-32)
>>> msg = Message(num_streams=2, seed=1)
>>> z = codec.pop(msg)                                    # bits-back: decode z ~ N(f(x), sigma^2 J J^T) delta_z
>>> codec.push(msg, z)                                    # ... and encoding it gives those bits back
>>> msg.num_bits() - msg.initial_bits_used() < 1.0
True

Block b (one of B) holds d symbols; symbol k_i stands for the value z_i = k_i w (``w = bin_width``) and
``z_i | z_<i ~ N(mean_i + sum_{j<i} coeffs_ij (z_j - mean_j), std_i^2)`` (thesis Section 3.5.4.1), each coordinate
coded with the grid Gaussian of :class:`DiscretizedGaussian`. Blocks are split across streams like any array;
within a block ``push`` codes coordinates last to first and ``pop`` first to last, and the conditional means are
computed by one native function on both sides, so a message decodes bit-exactly on any machine. Only the strictly
lower triangle of ``coeffs`` is read. ``coeffs`` and ``std`` come from :func:`dgmlab.kernels.cholesky_to_ar`.
"""

from __future__ import annotations

import numpy as np

from dgmlab.coding._ext import _native
from dgmlab.coding.codecs import DEFAULT_BIN_WIDTH, _bin_width, _check_message, _floats, _support, _symbols
from dgmlab.coding.message import Message

__all__ = ["DiscretizedLinearAR"]


class DiscretizedLinearAR:
    """B blocks of d coordinates under linear autoregressive Gaussians, discretised on a grid.

    :param mean: (B, d) means (for local bits-back, f(x)).
    :param coeffs: (B, d, d) AR coefficients; entry (b, i, j) with j < i weighs z_j - mean_j in the mean of z_i.
    :param std: (B, d) conditional standard deviations, > 0.
    :param bin_width: grid bin width w.
    :param support: symbol range (lo, hi); default: the bins covering [-2^9, 2^9].
    """

    def __init__(self, mean: object, coeffs: object, std: object, bin_width: float = DEFAULT_BIN_WIDTH,
                 support: object = None) -> None:
        self._mean, self._coeffs, self._std = _floats("mean", mean), _floats("coeffs", coeffs), _floats("std", std)
        if self._mean.ndim != 2 or self._mean.shape[1] < 1:
            raise ValueError(f"mean: expected shape (B, d) with d >= 1, got {self._mean.shape}")
        B, d = self._mean.shape
        if self._coeffs.shape != (B, d, d):
            raise ValueError(f"coeffs: expected shape {(B, d, d)}, got {self._coeffs.shape}")
        if self._std.shape != (B, d):
            raise ValueError(f"std: expected shape {(B, d)}, got {self._std.shape}")
        self.shape = (B, d)
        self.bin_width = _bin_width(bin_width)
        self.support = _support(support, self.bin_width)

    def push(self, msg: Message, symbols: object) -> None:
        s = _symbols(symbols, self.shape)
        _native.linear_ar_push(_check_message(msg)._impl, s, self._mean, self._coeffs, self._std, self.bin_width,
                               *self.support)

    def pop(self, msg: Message) -> np.ndarray:
        return _native.linear_ar_pop(_check_message(msg)._impl, self._mean, self._coeffs, self._std, self.bin_width,
                                     *self.support)

    def quantize(self, z: object) -> np.ndarray:
        """Symbols of the bins holding z: ``clip(floor(z / w + 1/2), lo, hi)``."""
        k = np.floor(_floats("z", z) / self.bin_width + 0.5)
        return np.clip(k, *self.support).astype(np.int64)
