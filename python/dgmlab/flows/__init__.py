"""Flow++ (Ho et al., 2019) in PyTorch: layers, conditioning nets, dequantizers, models, training, sampling.

    from dgmlab.flows import pretrained
    model = pretrained("natural")          # FlowPlusPlus in eval mode (bundled, trained on CPU)
    bpd = model.bits_per_dim(x)            # x: float NCHW 8-bit values, one-sample variational bound

Every layer implements ``forward(x) -> (y, logdet)`` and ``inverse(y)`` plus what local bits-back coding asks of it
(``log_derivative`` for elementwise maps, ``matrix()`` for 1x1 convolutions, ``split``/``elementwise`` for couplings).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dgmlab.flows.model import FlowPlusPlus

# Public names -> defining module, imported on first use so that `dgmlab --help` (which loads this package's CLI
# modules) does not import torch.
_EXPORTS = {
    "CONFIGS": "dgmlab.flows.model",
    "FlowConfig": "dgmlab.flows.model",
    "FlowPlusPlus": "dgmlab.flows.model",
    "load_model": "dgmlab.flows.model",
    "named_config": "dgmlab.flows.model",
}

__all__ = ["CONFIGS", "FlowConfig", "FlowPlusPlus", "load_model", "named_config", "pretrained"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dgmlab.flows' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def pretrained(name: str = "natural", device: str = "cpu") -> FlowPlusPlus:
    """A bundled model (``natural`` or ``car-racing``) in eval mode; its config and measured figures are in
    ``model.meta``."""
    from dgmlab.flows.pretrained import load_pretrained

    return load_pretrained(name, device)
