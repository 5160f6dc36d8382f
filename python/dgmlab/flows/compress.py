"""Lossless image compression with Flow++ and local bits-back coding: ``dgmlab compress`` / ``dgmlab decompress``.

    dgmlab compress photo.png scan.png -o photos.dgmbb --model runs/small/model.pt --compare
    dgmlab decompress photos.dgmbb -o out/

Images of any size are cut into square patches (edge padding, recorded; by default the largest of the model's
training size times a power of two, up to 64, that pads the images least: :func:`choose_patch`), and all patches of
all images are coded into one message, ``batch`` patches per step (Algorithm 3.4 over the compositional codec, each
run of actnorm / 1x1 convolution layers coded as one per-pixel block). Batches are chained: each takes its auxiliary bits
from the message, whose top is first whitened (:mod:`dgmlab.coding.whitening`; only the first batch draws
initial bits); a batch whose bits-back samples hit the coder's tail buckets is re-encoded with other bits. The
container (:mod:`dgmlab.coding.container`) records what the decoder needs: model id and weights hash, δ, σ,
streams, seed, batch layout, retries and whitened word counts per batch, torch thread count, dtype, device (GPU
model) and torch version, and a SHA-256 of the pixels. Decoding checks the model before touching the message, and
the pixels after.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from dgmlab.coding import Message, Uniform
from dgmlab.coding.container import read_container, write_container
from dgmlab.coding.local_bitsback import LocalParams, TailSample, net_bits, tail_checks
from dgmlab.coding.whitening import safe_whiten_words, unwhiten, whiten
from dgmlab.flows.local_coding import FlowPlusPlusCoder, coding_device
from dgmlab.flows.model import FlowConfig, FlowPlusPlus, load_model
from dgmlab.flows.pretrained import BUNDLED, model_path

__all__ = ["CompressConfig", "PatchCoders", "baseline_sizes", "check_patch", "choose_patch", "compress_images",
           "decompress_bytes", "load_coding_model", "pop_batches", "push_batches", "read_image", "tile_image",
           "untile_image", "write_png"]

MODES = {"RGB": 3, "L": 1}
WHITEN_MARGIN = 2.0
"""Whiten this many times the bits per subpixel that the first batch drew from the seeded source (what a batch
reads below its own content) before each later batch."""
MAX_RETRIES = 8
"""Re-encodings of a batch whose bits-back samples hit the coder's tail buckets (each costs 16 bits a stream)."""


BATCH_PIXELS = 4096
"""Default pixels per coding step. The first batch draws its bits-back noise from the seeded source, so the
auxiliary bits grow with the batch (tens of bits per subpixel of the first batch): a batch counted in pixels keeps
that cost the same whatever the model's patch size, and 4,096 pixels keep the networks' batches efficient."""


MAX_AUTO_PATCH = 64
"""Largest patch side :func:`choose_patch` picks. A size-independent model codes a larger patch with more context and
fewer borders (a 64x64 car-racing frame coded whole costs ~0.04 bits/subpixel less than as four 32x32 tiles), but its
attention's memory grows with the fourth power of the side."""


def check_patch(config: FlowConfig, patch: int) -> None:
    """Raise ``ValueError`` unless a model of ``config`` can code ``patch`` x ``patch`` patches: its own size with
    per-element actnorm, else any multiple of ``2 ** (squeezes + 1)`` (each squeeze halves the side, and the last
    level's checkerboard needs an even one)."""
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch: expected an int >= 1, got {patch!r}")
    if config.actnorm == "element":
        if patch != config.image_size:
            raise ValueError(f"patch: this model has per-element actnorm and codes only {config.image_size}x"
                             f"{config.image_size} patches, got {patch}")
        return
    multiple = 2 ** (sum(section == "squeeze" for section in config.architecture) + 1)
    if patch % multiple:
        raise ValueError(f"patch: this model codes patches whose side is a multiple of {multiple}, got {patch}")


def choose_patch(config: FlowConfig, shapes: list[tuple[int, int]]) -> int:
    """The patch side for images of ``(height, width)`` ``shapes``: the model's training size for a model with
    per-element actnorm; otherwise, of its training size times 1, 2, 4, ... up to ``MAX_AUTO_PATCH``, the one that
    pads the images least, the largest on a tie (a 64x64 image is coded whole, a 512x600 one in 32x32 tiles)."""
    size = config.image_size
    if config.actnorm == "element":
        return size
    candidates = [size]
    while candidates[-1] * 2 <= MAX_AUTO_PATCH:
        candidates.append(candidates[-1] * 2)

    def padded(p: int) -> int:
        return sum(math.ceil(h / p) * math.ceil(w / p) * p * p for h, w in shapes)

    return min(candidates, key=lambda p: (padded(p), -p))


def default_batch(patch: int) -> int:
    """Patches per coding step for ``patch`` x ``patch`` patches: ``BATCH_PIXELS`` worth, at least one."""
    return max(1, BATCH_PIXELS // (patch * patch))


@dataclass(frozen=True)
class CompressConfig:
    """Settings of ``dgmlab compress`` (thesis defaults for δ and σ)."""

    delta: float = 2.0**-32
    """Bin width δ = δ_x = δ_z of the fine grid."""
    sigma: float = 2.0**-14
    """Noise level σ of local bits-back coding."""
    streams: int = 16
    """Interleaved rANS streams."""
    seed: int = 0
    """Seed of the initial (auxiliary) bits."""
    batch: int | None = None
    """Patches coded per step (the batch layout both sides use); ``None``: as many as hold ``BATCH_PIXELS``."""
    patch: int | None = None
    """Side of the square patches images are cut into (recorded); ``None``: :func:`choose_patch`."""
    threads: int = 1
    """torch threads on the coding path (recorded; the decoder uses the same)."""
    device: str = "cpu"
    """Where the networks run: ``cpu``, ``cuda`` or ``cuda:N`` (recorded; the decoder needs the same kind)."""

    def __post_init__(self) -> None:
        LocalParams(delta=self.delta, sigma=self.sigma)  # validates δ and σ
        coding_device(self.device)
        for name in ("streams", "batch", "patch", "threads"):
            v = getattr(self, name)
            if name in ("batch", "patch") and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ValueError(f"seed: expected an int in [0, 2**64), got {self.seed!r}")


@dataclass
class CodingModel:
    model: FlowPlusPlus
    model_id: str
    sha256: str


def load_coding_model(spec: str) -> CodingModel:
    """A bundled model name (``natural``, ``car-racing``) or a checkpoint path written by ``FlowPlusPlus.save``."""
    path = model_path(spec)
    digest = hashlib.sha256(path.read_bytes() + path.with_suffix(".json").read_bytes()).hexdigest()
    model, _ = load_model(path)
    return CodingModel(model, spec if spec in BUNDLED else str(path), digest)


def read_image(path: str | Path) -> tuple[np.ndarray, str]:
    """An 8-bit RGB or greyscale image as ``(H, W, C)`` uint8 and its mode."""
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode not in MODES:
                raise ValueError(f"{path}: unsupported image mode {mode!r} (8-bit RGB or greyscale 'L' only)")
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"{path}: unreadable image ({e})") from None
    return arr.reshape(arr.shape[0], arr.shape[1], MODES[mode]), mode


def tile_image(img: np.ndarray, patch: int) -> np.ndarray:
    """``(H, W, C)`` -> ``(n, 3, patch, patch)`` patches of the edge-padded RGB image, row-major."""
    h, w, _ = img.shape
    rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    ph, pw = -h % patch, -w % patch
    padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")
    rows, cols = padded.shape[0] // patch, padded.shape[1] // patch
    t = padded.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 4, 1, 3)
    return t.reshape(rows * cols, 3, patch, patch)


def untile_image(patches: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    """Inverse of :func:`tile_image`: reassemble ``(n, 3, P, P)`` patches, crop the padding, restore the mode."""
    patch = patches.shape[-1]
    rows, cols = math.ceil(h / patch), math.ceil(w / patch)
    img = patches.reshape(rows, cols, 3, patch, patch).transpose(0, 3, 1, 4, 2).reshape(rows * patch, cols * patch, 3)
    img = img[:h, :w]
    return img[:, :, :1] if mode == "L" else img


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


class PatchCoders:
    """One float64 coder per batch shape (there are at most two: full batches and the last one)."""

    def __init__(self, model: FlowPlusPlus, params: LocalParams, fuse: bool, device: str = "cpu") -> None:
        self.model, self.params, self.fuse, self.device, self._by_shape = model, params, fuse, device, {}
        if coding_device(device).type == "cuda":  # same convolution algorithms on both sides
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

    def get(self, shape: tuple[int, ...]) -> FlowPlusPlusCoder:
        if shape not in self._by_shape:
            self._by_shape[shape] = FlowPlusPlusCoder(self.model, shape, self.params, self.fuse, self.device)
        return self._by_shape[shape]


def _params(cfg: CompressConfig) -> LocalParams:
    return LocalParams(delta=cfg.delta, sigma=cfg.sigma)


def _salt(msg: Message, attempt: int, pop: bool = False) -> None:
    """Push (or pop and check) one 16-bit digit ``attempt`` per stream: other bits for a retried batch."""
    codec = Uniform(2**16, (msg.num_streams,))
    if not pop:
        codec.push(msg, np.full(msg.num_streams, attempt))
    elif not np.all(codec.pop(msg) == attempt):
        raise ValueError("corrupt dgmlab compressed file (retry salt mismatch)")


def push_batches(msg: Message, x: np.ndarray, coders: PatchCoders, batch: int, progress: bool = False,
                 before_batch: Callable[[Message, int, int], None] | None = None
                 ) -> tuple[Message, list[list[int]]]:
    """Encode patches ``x`` in batches chained into ``msg``; returns the message and ``[retries, whitened words]``
    per batch.

    A batch whose bits-back samples land in the coder's tail buckets (:class:`TailSample`, ~1 batch in 4 of 16
    patches) is re-encoded from the message as it was, after pushing a salt digit per stream and whitening again,
    up to ``MAX_RETRIES`` times (the last try is kept whatever it costs). ``before_batch(msg, lo, hi)``, if given,
    sees the message right before the kept try of patches ``lo:hi`` is pushed (benchmarks use it to evaluate the
    bound at the noise the coder draws).
    """
    record, aux_per_dim = [], 0.0
    for i, (lo, hi) in enumerate(tqdm(_batches(len(x), batch), disable=not progress, desc="compress",
                                      unit="batch")):
        codec = coders.get(x[lo:hi].shape).codec()
        target = math.ceil(WHITEN_MARGIN * aux_per_dim * x[lo:hi].size / 64) if i else 0
        for attempt in range(MAX_RETRIES + 1):
            trial = msg.copy()
            if attempt:
                _salt(trial, attempt)
            words = safe_whiten_words(trial, target)
            whiten(trial, words)
            before = trial.copy() if before_batch is not None else None
            try:
                with tail_checks() if attempt < MAX_RETRIES else nullcontext():
                    codec.push(trial, x[lo:hi])
                break
            except TailSample:
                continue
        if before is not None:
            before_batch(before, lo, hi)
        msg = trial
        record.append([attempt, words])
        if i == 0:
            aux_per_dim = msg.initial_bits_used() / x[lo:hi].size
    return msg, record


def pop_batches(msg: Message, n: int, patch: int, coders: PatchCoders, batch: int, record: list[list[int]],
                progress: bool = False) -> np.ndarray:
    """Decode the ``n`` patches of :func:`push_batches`, last batch first."""
    x = np.zeros((n, 3, patch, patch), dtype=np.int64)
    spans = _batches(n, batch)
    for i in tqdm(range(len(spans))[::-1], disable=not progress, desc="decompress", unit="batch"):
        lo, hi = spans[i]
        x[lo:hi] = coders.get(x[lo:hi].shape).codec().pop(msg)
        attempt, words = record[i]
        unwhiten(msg, words)
        if attempt:
            _salt(msg, attempt, pop=True)
    return x


def compress_images(paths: list[str | Path], cm: CodingModel, cfg: CompressConfig = CompressConfig(),
                    progress: bool = True) -> tuple[bytes, dict]:
    """Compress images into a container; returns its bytes and statistics (bits, auxiliary bits, subpixels).

    Sets ``torch.set_num_threads(cfg.threads)`` for the coding path (recorded in the container).
    """
    if not paths:
        raise ValueError("no images given")
    pixels = [read_image(p) for p in paths]
    patch = cfg.patch or choose_patch(cm.model.config, [img.shape[:2] for img, _ in pixels])
    check_patch(cm.model.config, patch)
    images, tiles = [], []
    for p, (img, mode) in zip(paths, pixels):
        t = tile_image(img, patch)
        images.append({"name": Path(p).name, "height": img.shape[0], "width": img.shape[1], "mode": mode,
                       "tiles": len(t)})
        tiles.append(t)
    x = np.concatenate(tiles).astype(np.int64)
    torch.set_num_threads(cfg.threads)
    msg = Message(num_streams=cfg.streams, seed=cfg.seed)
    coders = PatchCoders(cm.model, _params(cfg), fuse=True, device=cfg.device)
    batch = cfg.batch or default_batch(patch)
    msg, record = push_batches(msg, x, coders, batch, progress)
    header = {"model": {"id": cm.model_id, "sha256": cm.sha256}, "images": images, "patch": patch,
              "patches": len(x), "batch": batch, "delta": cfg.delta, "sigma": cfg.sigma,
              "value_range": LocalParams().value_range, "streams": cfg.streams, "seed": cfg.seed,
              "torch_threads": cfg.threads, "dtype": "float64", "fused_pixel_layers": True, "batches": record,
              "patches_sha256": _digest(x), **_environment(cfg.device)}
    subpixels = sum(im["height"] * im["width"] * MODES[im["mode"]] for im in images)
    stats = {"net_bits": net_bits(msg), "initial_bits": msg.initial_bits_used(), "subpixels": subpixels,
             "patch_subpixels": int(x.size)}
    data = write_container(header, msg.to_bytes())
    stats["file_bytes"] = len(data)
    return data, stats


def _digest(x: np.ndarray) -> str:
    return hashlib.sha256(x.astype(np.uint8).tobytes()).hexdigest()


def _environment(device: str) -> dict[str, str]:
    """What decides the networks' bits besides the weights: the device (and GPU model) and torch version."""
    dev = coding_device(device)
    env = {"device": dev.type, "torch": torch.__version__}
    if dev.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(dev)
    return env


def decompress_bytes(data: bytes, cm: CodingModel | None = None, progress: bool = True
                     ) -> list[tuple[str, np.ndarray, str]]:
    """Decode a container: ``[(name, (H, W, C) uint8, mode)]``. The model defaults to the recorded bundled one."""
    header, payload = read_container(data)
    try:
        model_info, images = header["model"], header["images"]
        patch, n, batch = int(header["patch"]), int(header["patches"]), int(header["batch"])
        params = LocalParams(delta=float(header["delta"]), sigma=float(header["sigma"]),
                             value_range=float(header["value_range"]))
        threads = int(header["torch_threads"])
        fuse = bool(header["fused_pixel_layers"])
        device = str(header["device"])
        record = header.get("batches", [[0, 0]] * len(_batches(n, batch)))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"corrupt dgmlab compressed file (header field: {e})") from None
    if cm is None:
        cm = load_coding_model(model_info["id"])
    if cm.sha256 != model_info["sha256"]:
        raise ValueError(f"model mismatch: the file was written with {model_info['id']!r} (sha256 "
                         f"{model_info['sha256'][:12]}...), this model's weights hash to {cm.sha256[:12]}...")
    try:
        check_patch(cm.model.config, patch)
    except ValueError as e:
        raise ValueError(f"model mismatch: the file has {patch}x{patch} patches ({e})") from None
    try:
        coders = PatchCoders(cm.model, params, fuse, device)
    except ValueError as e:
        raise ValueError(f"this file was coded with the networks on {device!r}; decoding needs the same kind of "
                         f"device ({e})") from None
    torch.set_num_threads(threads)
    msg = Message.from_bytes(payload)
    _check_batch_record(record, len(_batches(n, batch)), msg.num_bits())
    x = pop_batches(msg, n, patch, coders, batch, record, progress)
    if abs(net_bits(msg)) > 1e-3:
        raise ValueError("corrupt dgmlab compressed file (message not fully consumed)")
    if "patches_sha256" in header and header["patches_sha256"] != _digest(x):
        written = {k: header.get(k) for k in ("device", "gpu", "torch")}
        raise ValueError(f"decoded pixels fail the file's checksum: this machine's networks compute other bits than "
                         f"the encoder's (written with {written}, decoding with {_environment(device)})")
    out, start = [], 0
    try:
        for im in images:
            k = int(im["tiles"])
            img = untile_image(x[start:start + k], int(im["height"]), int(im["width"]), im["mode"])
            out.append((str(im["name"]), img.astype(np.uint8), im["mode"]))
            start += k
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"corrupt dgmlab compressed file (image table: {e})") from None
    if start != n:
        raise ValueError(f"corrupt dgmlab compressed file ({n} patches, the image table uses {start})")
    return out


def _check_batch_record(value: object, batches: int, bits: float) -> None:
    """The header's ``[retries, whitened words]`` per batch: within range, no word beyond the message (files written
    before whitening and retries have no such field and read as zeros)."""
    def ok(v: object, top: float) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= top

    if (not isinstance(value, list) or len(value) != batches
            or not all(isinstance(b, list) and len(b) == 2 and ok(b[0], MAX_RETRIES) and ok(b[1], bits / 64)
                       for b in value)):
        raise ValueError(f"corrupt dgmlab compressed file (batches: expected {batches} pairs [retries <= "
                         f"{MAX_RETRIES}, whitened words <= {int(bits // 64)}])")


def baseline_sizes(paths: list[str]) -> dict[str, int]:
    """Bytes of PNG (level 9), WebP lossless and JPEG-XL lossless of the same images."""
    import imagecodecs

    sizes = {"PNG": 0, "WebP lossless": 0, "JPEG-XL lossless": 0}
    for p in paths:
        img = read_image(p)[0]
        img = img[:, :, 0] if img.shape[2] == 1 else img
        sizes["PNG"] += len(imagecodecs.png_encode(img, level=9))
        sizes["WebP lossless"] += len(imagecodecs.webp_encode(np.ascontiguousarray(
            np.repeat(img[:, :, None], 3, 2) if img.ndim == 2 else img), lossless=True, level=100))
        sizes["JPEG-XL lossless"] += len(imagecodecs.jpegxl_encode(img, lossless=True, effort=9))
    return sizes


def write_png(path: str | Path, img: np.ndarray, mode: str) -> None:
    """Write a decoded ``(H, W, C)`` image as PNG."""
    buf = io.BytesIO()
    Image.fromarray(img[:, :, 0] if mode == "L" else img).save(buf, format="PNG")
    Path(path).write_bytes(buf.getvalue())
