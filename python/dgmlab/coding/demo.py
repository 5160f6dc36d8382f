"""The coder's quickstart: lossless compression of a real photo through the native rANS coder, next to PNG.

The model is deliberately simple, so the whole codec fits on a page: each row of pixels is predicted from the
row above (a smoothed copy of it); green is coded first, and red and blue add green's prediction error to their
own prediction; every subpixel is coded under a discretised logistic whose scale follows the local gradient. Rows are pushed last-first, so the decoder pops row 0 first and has each row's context
(the rows above) before it decodes that row. The decoded image is compared with the original bit for bit.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dgmlab.coding import DiscretizedLogistic, Message


def row_context(above: np.ndarray | None, above2: np.ndarray | None, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and logistic scale for each subpixel of a row, from the (up to two) decoded rows above it."""
    if above is None:
        return np.full((width, 3), 127.5), np.full((width, 3), 40.0)
    up = above.astype(np.float64)
    padded = np.pad(up, ((1, 1), (0, 0)), mode="edge")
    mean = 0.25 * padded[:-2] + 0.5 * up + 0.25 * padded[2:]
    gradient = np.abs(padded[2:] - padded[:-2])
    if above2 is not None:
        gradient = gradient + np.abs(up - above2)
    return mean, 1.0 + 0.2 * gradient


def green_model(mean: np.ndarray, scale: np.ndarray) -> DiscretizedLogistic:
    """Green is coded first, from its own prediction."""
    return DiscretizedLogistic(mean[:, 1], scale[:, 1], bin_width=1.0, support=(0, 255))


def red_blue_models(mean: np.ndarray, scale: np.ndarray, green: np.ndarray) -> list[DiscretizedLogistic]:
    """Red and blue add green's prediction error to their own prediction."""
    residual = green - mean[:, 1]
    return [
        DiscretizedLogistic(mean[:, c] + residual, 0.5 + 0.3 * scale[:, c], bin_width=1.0, support=(0, 255))
        for c in (0, 2)
    ]


def encode_image(image: np.ndarray, num_streams: int = 8) -> bytes:
    """Losslessly encode an (H, W, 3) uint8 image."""
    height, width = image.shape[:2]
    msg = Message(num_streams=num_streams, seed=0)
    for r in reversed(range(height)):
        mean, scale = row_context(image[r - 1] if r >= 1 else None, image[r - 2] if r >= 2 else None, width)
        row = image[r].astype(np.int64)
        red_model, blue_model = red_blue_models(mean, scale, row[:, 1].astype(np.float64))
        blue_model.push(msg, row[:, 2])  # pushed in reverse: the decoder pops green, red, blue
        red_model.push(msg, row[:, 0])
        green_model(mean, scale).push(msg, row[:, 1])
    return msg.to_bytes()


def decode_image(data: bytes, height: int, width: int) -> np.ndarray:
    msg = Message.from_bytes(data)
    drawn = msg.initial_bits_used()
    out = np.zeros((height, width, 3), dtype=np.uint8)
    for r in range(height):
        mean, scale = row_context(out[r - 1] if r >= 1 else None, out[r - 2] if r >= 2 else None, width)
        green = green_model(mean, scale).pop(msg)
        red_model, blue_model = red_blue_models(mean, scale, green.astype(np.float64))
        out[r, :, 1], out[r, :, 0], out[r, :, 2] = green, red_model.pop(msg), blue_model.pop(msg)
    if msg.initial_bits_used() != drawn:
        raise ValueError("corrupt data: decoding ran past the end of the message")
    return out


def sample_photo() -> tuple[np.ndarray, str]:
    """Grace Hopper's portrait, shipped with matplotlib (no download)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB")), path.name


def run_demo() -> int:
    image, name = sample_photo()
    height, width = image.shape[:2]
    subpixels = image.size
    start = time.perf_counter()
    data = encode_image(image)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_image(data, height, width)
    decode_s = time.perf_counter() - start
    if not np.array_equal(decoded, image):
        raise RuntimeError("roundtrip mismatch: please report this as a bug")
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG", optimize=True)
    ours, png_bits = 8 * len(data) / subpixels, 8 * png.getbuffer().nbytes / subpixels
    print(f"image: {name} ({width}x{height} RGB, {subpixels} subpixels)")
    print(f"dgmlab rANS + row/channel context:   {len(data)} bytes = {ours:.3f} bits/subpixel")
    print(f"PNG (optimised):                    {png.getbuffer().nbytes} bytes = {png_bits:.3f} bits/subpixel")
    print(f"ratio PNG / dgmlab: {png_bits / ours:.3f}x   encode {encode_s:.2f} s, decode {decode_s:.2f} s")
    print("decoded image is bit-identical to the original")
    return 0
