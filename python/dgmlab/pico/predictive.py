"""Video bitstream: kept latents coded under the MDN-RNN's predictive distribution p(z_t | h_t).

At frame t the receiver holds the latents it decoded for frames < t (kept blocks quantised, dropped blocks held from
the previous frame) and the actions taken on them, so it can run the World Models MDN-RNN over them and compute
h_t and the mixture of Gaussians the MDN head predicts for z_t. The sender mirrors the receiver and codes every kept
latent's quantisation bin ``round(z / step)`` under that mixture's marginal for its dimension (at an episode's first
frame there is no history: the N(0, 1) prior). Decoding is frame by frame: pop frame t, advance the LSTM on what was
received, pop frame t + 1.

>>> import torch; from dgmlab.world_models.mdn_rnn import MDNRNN
>>> _ = torch.manual_seed(0); rnn = MDNRNN(z_dim=4, hidden=8, mixtures=2).eval()
>>> rng = np.random.default_rng(0)
>>> z, actions = rng.normal(size=(6, 4)), rng.uniform(-1, 1, (6, 3))
>>> mask = np.ones((6, 2), bool); mask[2, 1] = False                    # 2 blocks of 2; frame 2 drops block 1
>>> out = decode_video(encode_video(z, mask, actions, rnn, LatentCode(2, 0.25)), rnn, actions)
>>> bool(np.array_equal(out.mask, mask)), bool(np.allclose(out.values[mask.repeat(2, 1)], z[mask.repeat(2, 1)],
...                                                          atol=0.125))
(True, True)

Determinism (``shared/ARCHITECTURE.md``): sender and receiver must compute bit-identical tables. The MDN-RNN is
therefore not run through torch's float32 kernels (whose summation order depends on build, CPU and thread count)
but re-evaluated in float64 from its weights (:class:`MDNPredictor`): products accumulated one input column at a
time, the coder's fixed-polynomial sigmoid and ``exp`` (``detmath``, the same on every machine). The tables then use
only IEEE-754 basic operations, ``detmath``'s ``exp`` and normal CDF, sums in a fixed order, and the native
categorical coder (24-bit CDF, every bin of the support a frequency >= 1). The header carries a digest of the
MDN-RNN's weights, so a receiver holding a different model gets a clear error instead of garbage.

Layout: a 45-byte header (magic ``PICV``, version, K, block size, N, step, budget, symbol half-range S, the weights'
digest), then per frame in decode order: k, the mask's rank among k-subsets, the kept symbols (support [-S, S];
the end bins take the tails). One bitstream is one episode; bits per frame = ``8 * len(data) / N``.
"""

from __future__ import annotations

import hashlib
import struct
from math import ceil

import numpy as np
import torch

from dgmlab.coding import Categorical, Message
from dgmlab.coding._ext import _native
from dgmlab.pico.bitstream import Decoded, LatentCode, _check, _k_codec, pop_subset, push_subset, quantize
from dgmlab.world_models.mdn_rnn import LOG_SIGMA_MAX, LOG_SIGMA_MIN

__all__ = ["MDNPredictor", "bin_probs", "decode_video", "encode_video", "rnn_digest"]

_MAGIC = b"PICV"
_HEADER = struct.Struct("<4sBHHIddI8s")  # magic, version, K, block, N, step, budget (NaN: k uniform), S, digest
_VERSION = 1
_PRECISION = 24
_MIN_RANGE = 8.0  # the support covers at least [-8, 8] in latent units (more if a symbol lies outside)


def rnn_digest(rnn: torch.nn.Module) -> bytes:
    """8 bytes of SHA-256 over the MDN-RNN's parameters (names, shapes, float bytes) in state-dict order."""
    h = hashlib.sha256()
    for name, value in rnn.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(value.shape)).encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


class MDNPredictor:
    """The receiver's MDN-RNN, run in float64 with a fixed order of operations: after :meth:`observe` of frame
    t - 1's received latents and action, :attr:`params` is the predictive mixture (logit_pi, mu, log_sigma), each
    (L, M), for frame t; None at an episode start (code under the prior).

    The LSTM step and the MDN head are the torch model's equations evaluated column by column (accumulation in a
    fixed order, the coder's deterministic ``exp`` / sigmoid), not torch's float32 kernels, whose summation order
    may depend on the build, the CPU and the thread count: the outputs are a function of the weights and the
    received data only, identical for the sender and any receiver. They agree with torch's to float32 accuracy.
    """

    def __init__(self, rnn: torch.nn.Module) -> None:
        sd = {k: v.detach().cpu().double().numpy() for k, v in rnn.state_dict().items()}
        self.z_dim, self.mixtures = rnn.z_dim, rnn.mixtures
        self._w_in = np.ascontiguousarray(sd["lstm.weight_ih_l0"].T)  # (in, 4H) rows = input columns
        self._w_h = np.ascontiguousarray(sd["lstm.weight_hh_l0"].T)  # (H, 4H)
        self._bias = sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]
        width = 3 * self.z_dim * self.mixtures  # the mixture part of the head (not reward / done)
        self._w_head = np.ascontiguousarray(sd["head.weight"][:width].T)  # (H, width)
        self._b_head = sd["head.bias"][:width].copy()
        hidden = self._w_h.shape[0]
        self.h, self.c = np.zeros(hidden), np.zeros(hidden)
        self.params: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def _affine(bias: np.ndarray, w_rows: np.ndarray, x: np.ndarray, acc: np.ndarray | None = None) -> np.ndarray:
        acc = bias.copy() if acc is None else acc
        for j in range(len(x)):  # acc += W[:, j] * x[j], one input column at a time
            acc += w_rows[j] * x[j]
        return acc

    def observe(self, z: np.ndarray, action: np.ndarray) -> None:
        x = np.concatenate([np.asarray(z, np.float64), np.asarray(action, np.float64)])
        gates = self._affine(self._bias, self._w_in, x)
        gates = self._affine(self._bias, self._w_h, self.h, gates)
        i, f, g, o = np.split(gates, 4)  # torch's gate order
        tanh_g = 2.0 * _native.det_sigmoid(2.0 * g) - 1.0
        self.c = _native.det_sigmoid(f) * self.c + _native.det_sigmoid(i) * tanh_g
        self.h = _native.det_sigmoid(o) * (2.0 * _native.det_sigmoid(2.0 * self.c) - 1.0)
        out = self._affine(self._b_head, self._w_head, self.h).reshape(self.z_dim, 3, self.mixtures)
        log_sigma = np.clip(out[:, 2], LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        self.params = (out[:, 0].copy(), out[:, 1].copy(), log_sigma)


def bin_probs(logit_pi: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, step: float, half: int) -> np.ndarray:
    """(n, 2S + 1) probabilities of the bins ``-S..S`` (bin j = [(j - 1/2) step, (j + 1/2) step), the end bins with
    the tails) under the mixtures sum_m softmax(logit_pi)_m N(mu_m, exp(log_sigma_m)^2), each argument (n, M).

    Bit-reproducible: IEEE basic operations, the coder's deterministic ``exp`` and normal CDF, fixed summation order.
    """
    logit_pi, mu, log_sigma = (np.ascontiguousarray(a, np.float64) for a in (logit_pi, mu, log_sigma))
    edges = (np.arange(-half, half, dtype=np.float64) + 0.5) * step  # the 2S boundaries between bins
    sigma = _native.det_exp(log_sigma)
    cdf = _native.det_normal_cdf((edges[None, None, :] - mu[:, :, None]) / sigma[:, :, None])  # (n, M, 2S)
    n, m = mu.shape
    cdf = np.concatenate([np.zeros((n, m, 1)), cdf, np.ones((n, m, 1))], axis=2)
    mass = cdf[:, :, 1:] - cdf[:, :, :-1]
    e = _native.det_exp(logit_pi - logit_pi.max(axis=1, keepdims=True))
    total = e[:, 0].copy()
    for j in range(1, m):
        total += e[:, j]
    probs = mass[:, 0] * (e[:, 0] / total)[:, None]
    for j in range(1, m):
        probs += mass[:, j] * (e[:, j] / total)[:, None]
    return probs


def _prior_params(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zeros = np.zeros((n, 1))
    return zeros, zeros, zeros  # one component N(0, 1)


def _check_video(z: np.ndarray, actions: object, rnn: torch.nn.Module) -> np.ndarray:
    a = np.asarray(actions, np.float64)
    n, dim = z.shape
    if a.ndim != 2 or len(a) != n:
        raise ValueError(f"actions: expected (N, A) = ({n}, A), one action per frame, got shape {a.shape}")
    if rnn.z_dim != dim or rnn.lstm.input_size != dim + a.shape[1]:
        raise ValueError(f"rnn: the MDN-RNN reads {rnn.z_dim} latents + {rnn.lstm.input_size - rnn.z_dim} action "
                         f"values, got {dim} latents and {a.shape[1]} action values; pass the run's own MDN-RNN")
    if not np.all(np.isfinite(a)):
        raise ValueError("actions: contain NaN/inf")
    return a


def _tables(params, keep_row: np.ndarray, step: float, half: int) -> np.ndarray:
    kept = int(keep_row.sum())
    chosen = _prior_params(kept) if params is None else tuple(p[keep_row] for p in params)
    return bin_probs(*chosen, step, half)


def encode_video(z: np.ndarray, mask: np.ndarray, actions: np.ndarray, rnn: torch.nn.Module,
                 code: LatentCode) -> bytes:
    """Code one episode: latents ``z`` (N, L), ``mask`` (N, K), ``actions`` (N, A) (action t is taken after frame
    t, known to the receiver), kept latents under the MDN-RNN's predictive distribution given what was received."""
    z, mask = _check(z, mask, code)
    actions = _check_video(z, actions, rnn)
    n, num_blocks = mask.shape
    keep = np.repeat(mask, code.block_size, axis=1)
    symbols = np.floor(z / code.step + 0.5).astype(np.int64)
    half = max(ceil(_MIN_RANGE / code.step), int(np.abs(symbols[keep]).max(initial=0)))
    if 2 * half + 1 >= 2**_PRECISION:
        raise ValueError(f"step: {code.step} gives {2 * half + 1} quantisation bins, more than the "
                         f"{_PRECISION}-bit coder takes; use a larger step")
    predictor, params, prev = MDNPredictor(rnn), [], np.zeros(z.shape[1])
    for t in range(n):  # the receiver's view: held latents, LSTM advanced on them
        params.append(predictor.params)
        prev = np.where(keep[t], quantize(z[t], code.step), prev)
        predictor.observe(prev, actions[t])
    msg = Message(num_streams=1, seed=0)
    k_codec = _k_codec(code, num_blocks, 1)
    for t in range(n - 1, -1, -1):  # a stack: push last what the decoder pops first
        if keep[t].any():
            Categorical(_tables(params[t], keep[t], code.step, half)).push(msg, symbols[t][keep[t]] + half)
        push_subset(msg, mask[t])
        k_codec.push(msg, mask[t:t + 1].sum(1))
    budget = np.nan if code.budget is None else code.budget
    header = _HEADER.pack(_MAGIC, _VERSION, num_blocks, code.block_size, n, code.step, budget, half,
                          rnn_digest(rnn))
    return header + msg.to_bytes()


def decode_video(data: bytes, rnn: torch.nn.Module, actions: np.ndarray) -> Decoded:
    """Inverse of :func:`encode_video`, frame by frame (frame t's distribution from the frames decoded before it);
    ``values`` are the sent latents (NaN where dropped; the receiver holds the previous frame's value there)."""
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        raise ValueError("data: not a PICO video bitstream (bad magic or truncated header)")
    _, version, num_blocks, block, n, step, budget, half, digest = _HEADER.unpack_from(data)
    if version != _VERSION:
        raise ValueError(f"data: PICO video bitstream version {version}, this dgmlab reads {_VERSION}")
    if digest != rnn_digest(rnn):
        raise ValueError("rnn: this bitstream was coded with a different MDN-RNN (weights digest differs); "
                         "decode with the model the sender used")
    code = LatentCode(block, step, None if np.isnan(budget) else budget)
    values = np.full((n, num_blocks * block), np.nan)
    actions = _check_video(values, actions, rnn)
    msg = Message.from_bytes(data[_HEADER.size:])
    k_codec = _k_codec(code, num_blocks, 1)
    mask = np.zeros((n, num_blocks), bool)
    predictor, prev = MDNPredictor(rnn), np.zeros(values.shape[1])
    for t in range(n):
        k = int(k_codec.pop(msg)[0])
        mask[t] = pop_subset(msg, k, num_blocks)
        keep = np.repeat(mask[t], block)
        if keep.any():
            values[t, keep] = (Categorical(_tables(predictor.params, keep, step, half)).pop(msg) - half) * step
        prev = np.where(keep, values[t], prev)
        predictor.observe(prev, actions[t])
    return Decoded(mask, values)
