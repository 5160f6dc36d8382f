"""Flow++ (Ho et al., 2019) in PyTorch: layers, conditioning nets, dequantizers, models, training, sampling.

    from dgmlab.flows import pretrained
    model = pretrained("natural")          # FlowPlusPlus in eval mode (bundled, trained on CPU)
    bpd = model.bits_per_dim(x)            # x: float NCHW 8-bit values, one-sample variational bound

Every layer implements ``forward(x) -> (y, logdet)`` and ``inverse(y)`` plus what local bits-back coding asks of it
(``log_derivative`` for elementwise maps, ``matrix()`` for 1x1 convolutions, ``split``/``elementwise`` for couplings).
"""

from __future__ import annotations

from dgmlab.flows.model import CONFIGS, FlowConfig, FlowPlusPlus, load_model, named_config

__all__ = ["CONFIGS", "FlowConfig", "FlowPlusPlus", "load_model", "named_config", "pretrained"]


def pretrained(name: str = "natural", device: str = "cpu") -> FlowPlusPlus:
    """A bundled model (``natural`` or ``car-racing``) in eval mode; its config and measured figures are in
    ``model.meta``."""
    from dgmlab.flows.pretrained import load_pretrained

    return load_pretrained(name, device)
