"""Car-racing frame processing shared by Flow++ data and World Models.

The World Models write-up crops the 96x96 ``CarRacing`` observation to its top 84 rows (dropping the dashboard) and
resizes it to 64x64 with PIL's *bilinear* filter; its first agent used a blocky filter by mistake and drove worse.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FRAME_SHAPE = (96, 96, 3)
VERTICAL_CUT = 84
OBS_SIZE = 64


def process_frame(frame: np.ndarray, size: int = OBS_SIZE, vertical_cut: int = VERTICAL_CUT) -> np.ndarray:
    """Crop an RGB uint8 frame to its top ``vertical_cut`` rows and resize to ``size x size`` (PIL bilinear).

    Returns a uint8 array of shape ``(size, size, 3)``.
    """
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected a uint8 (H, W, 3) RGB array, got {frame.dtype} {frame.shape}")
    if frame.shape[0] < vertical_cut:
        raise ValueError(f"frame: height {frame.shape[0]} is below vertical_cut={vertical_cut}")
    image = Image.fromarray(np.ascontiguousarray(frame[:vertical_cut]))
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)
