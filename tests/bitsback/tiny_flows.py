"""Small numpy flows, one per layer protocol of dgmlab.coding.local_bitsback, each with its exact log-determinant.

Shared by the tests and by the fresh-process decoder (which imports this file by path): everything is built from
a seed, so both processes hold the same flows.
"""

from __future__ import annotations

import numpy as np

SHAPE = (3, 4, 2, 2)  # (B, C, H, W): 16 coordinates per example


def _well_conditioned(rng: np.random.Generator, c: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(c, c)))
    return q @ np.diag(np.exp(rng.uniform(-0.5, 0.5, c)))


class Affine:
    """Elementwise ``y = x e^s + b``."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> None:
        self.s, self.b = rng.uniform(-1, 1, shape[1:]), rng.normal(size=shape[1:])

    def forward(self, x):
        return x * np.exp(self.s) + self.b

    def inverse(self, y):
        return (y - self.b) * np.exp(-self.s)

    def log_derivative(self, x):
        return np.broadcast_to(self.s, x.shape).copy()

    def logdet(self, x):
        return self.log_derivative(x).reshape(len(x), -1).sum(1)


class Asinh:
    """Elementwise ``y = asinh(x)`` (contracting, so latents stay where the prior has mass)."""

    def forward(self, x):
        return np.arcsinh(x)

    def inverse(self, y):
        return np.sinh(y)

    def log_derivative(self, x):
        return -0.5 * np.log1p(x * x)

    def logdet(self, x):
        return self.log_derivative(x).reshape(len(x), -1).sum(1)


class Conv1x1:
    """``y[:, :, h, w] = W x[:, :, h, w]``: one c x c Jacobian block per pixel."""

    def __init__(self, rng: np.random.Generator, c: int) -> None:
        self.w = _well_conditioned(rng, c)

    def forward(self, x):
        return np.einsum("ij,bjhw->bihw", self.w, x)

    def inverse(self, y):
        return np.einsum("ij,bjhw->bihw", np.linalg.inv(self.w), y)

    def jacobian_blocks(self, x):
        b, c, h, w = x.shape
        return np.broadcast_to(self.w, (b, h, w, c, c))

    def logdet(self, x):
        return np.full(len(x), np.linalg.slogdet(self.w)[1] * x.shape[2] * x.shape[3])


class ChannelCoupling:
    """Affine coupling over channels: ``y2 = x2 e^{tanh(A x1)} + B x1`` per pixel, ``y1 = x1``."""

    def __init__(self, rng: np.random.Generator, c: int, parity: int) -> None:
        (self.a, self.b), self.parity = rng.normal(size=(2, c // 2, c // 2)) * 0.7, parity

    def split(self, x):
        h = x.shape[1] // 2
        a, b = x[:, :h].copy(), x[:, h:].copy()
        return (a, b) if self.parity == 0 else (b, a)

    def merge(self, x1, x2):
        return np.concatenate((x1, x2) if self.parity == 0 else (x2, x1), axis=1)

    def _params(self, x1):
        return np.tanh(np.einsum("ij,bjhw->bihw", self.a, x1)), np.einsum("ij,bjhw->bihw", self.b, x1)

    def elementwise(self, x2, x1):
        s, t = self._params(x1)
        return x2 * np.exp(s) + t, s

    def elementwise_inverse(self, y2, x1):
        s, t = self._params(x1)
        return (y2 - t) * np.exp(-s)

    def logdet(self, x):
        x1, x2 = self.split(x)
        return self.elementwise(x2, x1)[1].reshape(len(x), -1).sum(1)

    def forward(self, x):
        x1, x2 = self.split(x)
        return self.merge(x1, self.elementwise(x2, x1)[0])


class MADE:
    """A MADE-style affine autoregressive flow on the flattened coordinates: ``z_i = x_i e^{s_i} + t_i`` with
    ``s = tanh(S x)``, ``t = T x``, S and T strictly lower triangular (so s_i, t_i see only x_<i)."""

    def __init__(self, rng: np.random.Generator, d: int) -> None:
        self.s_w = np.tril(rng.normal(size=(d, d)), -1) * 0.3
        self.t_w = np.tril(rng.normal(size=(d, d)), -1) * 0.3

    def conditioner(self, x):
        return np.tanh(x @ self.s_w.T), x @ self.t_w.T

    def elementwise(self, x, params):
        s, t = params
        return x * np.exp(s) + t, s

    def elementwise_inverse(self, z, params):
        s, t = params
        return (z - t) * np.exp(-s)

    def forward(self, x):
        flat = x.reshape(len(x), -1)
        return self.elementwise(flat, self.conditioner(flat))[0].reshape(x.shape)

    def logdet(self, x):
        flat = x.reshape(len(x), -1)
        return self.conditioner(flat)[0].sum(1)


class BlackBox:
    """``y = A sinh(x)`` on the flattened coordinates (a dense Jacobian ``A diag(cosh x)``)."""

    def __init__(self, rng: np.random.Generator, d: int) -> None:
        self.a = _well_conditioned(rng, d)

    def forward(self, x):
        return (np.sinh(x.reshape(len(x), -1)) @ self.a.T).reshape(x.shape)

    def inverse(self, y):
        return np.arcsinh(y.reshape(len(y), -1) @ np.linalg.inv(self.a).T).reshape(y.shape)

    def jacobian(self, x):
        return self.a[None] * np.cosh(x.reshape(len(x), -1))[:, None, :]

    def logdet(self, x):
        return np.linalg.slogdet(self.jacobian(x))[1]


class Reverse:
    """A permutation: reverse the channels (volume preserving)."""

    volume_preserving = True

    def forward(self, x):
        return x[:, ::-1].copy()

    def inverse(self, y):
        return y[:, ::-1].copy()

    def logdet(self, x):
        return np.zeros(len(x))


def flows(seed: int = 0) -> dict[str, list]:
    """Named tiny flows, one per algorithm, plus a composite of every layer kind."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(SHAPE[1:]))
    c = SHAPE[1]
    return {
        "elementwise": [Affine(rng, SHAPE), Asinh()],
        "block": [Conv1x1(rng, c)],
        "coupling": [ChannelCoupling(rng, c, 0), ChannelCoupling(rng, c, 1)],
        "autoregressive": [MADE(rng, d)],
        "blackbox": [BlackBox(rng, d)],
        "composite": [Affine(rng, SHAPE), Conv1x1(rng, c), ChannelCoupling(rng, c, 0), Reverse(), Asinh(),
                      ChannelCoupling(rng, c, 1), MADE(rng, d), Conv1x1(rng, c)],
    }


def log_density(layers: list, x: np.ndarray) -> np.ndarray:
    """``log p(x)`` (nats per example) under the flow with prior N(0, I)."""
    total = np.zeros(len(x))
    for layer in layers:
        total += layer.logdet(x)
        x = layer.forward(x)
    return total - 0.5 * (x.reshape(len(x), -1) ** 2).sum(1) - 0.5 * x[0].size * np.log(2 * np.pi)
