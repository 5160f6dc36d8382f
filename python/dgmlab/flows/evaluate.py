"""Held-out bits/dim of Flow++: the one-sample variational bound (Eq. 3.9) and the importance-weighted estimate
``log P(x) ~ log mean_i p(x + u_i) / q(u_i|x)``, ``u_i ~ q(.|x)`` (Burda et al., 2016) as in Table 3.1."""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm import tqdm

from dgmlab.flows.train import to_tensor


def _groups(images: list[np.ndarray] | np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of equally shaped images, in order of first appearance of each shape."""
    by_shape: dict[tuple, list[np.ndarray]] = {}
    for im in images:
        by_shape.setdefault(im.shape, []).append(im)
    return [
        np.stack(group[i : i + batch_size])
        for group in by_shape.values()
        for i in range(0, len(group), batch_size)
    ]


@torch.no_grad()
def evaluate_bpd(
    model: torch.nn.Module,
    images: list[np.ndarray] | np.ndarray,
    importance_samples: int = 0,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Bits per subpixel on ``images`` (uint8 HWC, any sizes the model accepts).

    Returns ``{"images", "dims", "bpd_elbo", "per_image_elbo"}`` and, with ``importance_samples = N > 0``,
    ``"bpd_iw"`` (N samples). Averages weight every subpixel equally; ``per_image_elbo`` lists each image's bound
    in evaluation order (the input order when all images share one shape).
    """
    if len(images) == 0:
        raise ValueError("no images to evaluate")
    gen = torch.Generator(device=model.device).manual_seed(seed)
    elbo_bits = iw_bits = 0.0
    dims = 0
    per_image: list[float] = []
    for batch in tqdm(_groups(images, batch_size), disable=not progress, desc="flows eval"):
        x = to_tensor(batch, model.device)
        elbos = torch.stack([model.elbo(x, gen) for _ in range(max(1, importance_samples))])
        elbo_bits -= float(elbos.sum() / elbos.shape[0]) / math.log(2)
        per_image += (-elbos.mean(dim=0) / (x[0].numel() * math.log(2))).tolist()
        if importance_samples:
            iw = torch.logsumexp(elbos.double(), dim=0) - math.log(importance_samples)
            iw_bits -= float(iw.sum()) / math.log(2)
        dims += x.numel()
    result = {"images": len(images), "dims": dims, "bpd_elbo": elbo_bits / dims, "per_image_elbo": per_image}
    if importance_samples:
        result.update(bpd_iw=iw_bits / dims, importance_samples=importance_samples)
    return result
