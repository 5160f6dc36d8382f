"""Flow++ (Section 3.2): the model flow, its dequantizer, named configurations and the bits/dim objective."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dgmlab.flows.couplings import Coupling
from dgmlab.flows.dequantizers import UniformDequantizer, VariationalDequantizer, standard_normal_logp
from dgmlab.flows.layers import ActNorm, InvConv1x1, Logit, Squeeze


@dataclass
class FlowConfig:
    """Architecture of a Flow++ model (defaults: the thesis' CIFAR-10 model)."""

    image_size: int = 32
    """Side of the square images (patches) the model is trained on and codes; the flow is convolutional, so any
    size divisible by ``2 ** squeezes`` (and by 2 more for checkerboard sections) also works, except with
    per-element actnorm."""
    channels: int = 3
    """Image channels."""
    architecture: tuple[str, ...] = ("checkerboard:4", "squeeze", "channel:2", "checkerboard:3")
    """Sections in order: ``checkerboard:N`` / ``channel:N`` (N couplings, each actnorm -> 1x1 conv -> coupling,
    parities alternating) and ``squeeze``."""
    filters: int = 96
    """Channels of every conditioning net."""
    blocks: int = 10
    """Conv(+Attn) blocks per conditioning net."""
    components: int = 32
    """Logistics per mixture coupling (K)."""
    heads: int = 4
    """Self-attention heads."""
    attention: bool = True
    """Use Attn blocks (ablation: False)."""
    attention_from: int = 0
    """Index of the first ``architecture`` section whose couplings get Attn blocks (attention over the full-resolution
    map is the costliest part on a CPU; 0 = everywhere, as in the thesis)."""
    coupling: str = "mixture"
    """``mixture`` (Flow++) or ``affine`` (ablation)."""
    dequantization: str = "variational"
    """``variational`` (Flow++) or ``uniform`` (ablation)."""
    dequant_couplings: int = 4
    """Couplings in the variational dequantizer flow."""
    dequant_filters: int = 96
    """Channels of the dequantizer's context and conditioning nets."""
    dequant_blocks: int = 2
    """Blocks of the dequantizer's context and conditioning nets."""
    dequant_attention: bool = True
    """Use Attn blocks in the dequantizer too (they run at full resolution, the costliest place on a CPU)."""
    actnorm: str = "element"
    """``element`` (per-element scale and bias, as in the thesis) or ``channel`` (size-independent)."""

    def __post_init__(self) -> None:
        self.architecture = tuple(self.architecture)
        checks = {
            "coupling": ("mixture", "affine"),
            "dequantization": ("variational", "uniform"),
            "actnorm": ("element", "channel"),
        }
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"FlowConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for section in self.architecture:
            kind, _, count = section.partition(":")
            if section != "squeeze" and (kind not in ("checkerboard", "channel") or not count.isdigit()):
                raise ValueError(
                    f"FlowConfig.architecture: bad section {section!r} (want 'checkerboard:N', "
                    "'channel:N' or 'squeeze')"
                )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FlowConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown FlowConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


CONFIGS: dict[str, FlowConfig] = {
    # The thesis' CIFAR-10 model (about 31M parameters with K = 32 as in the authors' release).
    "cifar10": FlowConfig(),
    # Small enough to train on a shared 2-core CPU in about an hour: attention only at 16x16 and below, none in the
    # dequantizer; size-independent (per-channel actnorm), so a model trained on 32x32 crops evaluates 64x64 images.
    "small": FlowConfig(
        image_size=32,
        architecture=("checkerboard:4", "squeeze", "channel:2", "checkerboard:2"),
        filters=32,
        blocks=1,
        components=8,
        attention_from=2,
        dequant_couplings=2,
        dequant_filters=16,
        dequant_blocks=1,
        dequant_attention=False,
        actnorm="channel",
    ),
    # For tests and smoke runs.
    "tiny": FlowConfig(
        image_size=8,
        architecture=("checkerboard:2", "squeeze", "channel:2"),
        filters=8,
        blocks=1,
        components=4,
        dequant_couplings=2,
        dequant_filters=8,
        dequant_blocks=1,
        actnorm="channel",
    ),
}


def named_config(name: str, **overrides) -> FlowConfig:
    """A copy of a named configuration with fields overridden (e.g. ``coupling="affine"``)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(CONFIGS)}")
    return dataclasses.replace(CONFIGS[name], **overrides)


def _build_flow(cfg: FlowConfig) -> nn.ModuleList:
    """``Logit`` then the sections of ``cfg.architecture``."""
    layers: list[nn.Module] = [Logit()]
    channels, size = cfg.channels, cfg.image_size
    for index, section in enumerate(cfg.architecture):
        if section == "squeeze":
            layers.append(Squeeze())
            channels, size = 4 * channels, size // 2
            continue
        split, _, count = section.partition(":")
        for i in range(int(count)):
            layers += [
                ActNorm(channels, size, per_element=cfg.actnorm == "element"),
                InvConv1x1(channels),
                Coupling(
                    channels,
                    split,
                    i % 2,
                    cfg.coupling,
                    cfg.filters,
                    cfg.blocks,
                    cfg.components,
                    cfg.attention and index >= cfg.attention_from,
                    cfg.heads,
                ),
            ]
    return nn.ModuleList(layers)


class FlowPlusPlus(nn.Module):
    """Flow++: ``z = f(x + u)`` with ``z ~ N(0, I)`` and ``u ~ q(u|x)``.

    ``self.flow`` is the list of layers (first ``Logit`` on ``[0, 256)``), each with ``forward(x) -> (y, logdet)`` and
    ``inverse(y)``; ``self.dequantizer`` gives ``(u, log q(u|x))``.
    """

    def __init__(self, config: FlowConfig):
        super().__init__()
        self.config = config
        self.flow = _build_flow(config)
        c = config
        self.dequantizer: nn.Module = (
            VariationalDequantizer(
                c.channels,
                c.dequant_filters,
                c.dequant_blocks,
                c.dequant_couplings,
                c.coupling,
                c.components,
                c.attention and c.dequant_attention,
                c.heads,
            )
            if c.dequantization == "variational"
            else UniformDequantizer()
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous ``x`` in ``[0, 256)`` -> ``(z, log |det dz/dx|)``."""
        logdet = x.new_zeros(x.shape[0])
        for layer in self.flow:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.flow):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` of continuous ``x`` in ``[0, 256)`` (nats per example)."""
        z, logdet = self(x)
        return standard_normal_logp(z) + logdet

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-sample ``log p(x + u) - log q(u|x)``, ``u ~ q(.|x)``, for 8-bit ``x`` (float, NCHW): Eq. 3.9."""
        u, log_q = self.dequantizer(x, generator)
        return self.log_prob(x + u) - log_q

    def bits_per_dim(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Negative one-sample ELBO in bits per dimension, per example (the training loss)."""
        return -self.elbo(x, generator) / (x[0].numel() * math.log(2))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        size: int | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` images as uint8 NCHW: ``floor(f^{-1}(z))`` clamped to ``[0, 255]``, ``z ~ N(0, temperature^2 I)``."""
        size = size or self.config.image_size
        squeezes = sum(section == "squeeze" for section in self.config.architecture)
        if size % (2 ** (squeezes + 1)):
            raise ValueError(f"size must be divisible by {2 ** (squeezes + 1)} for this architecture, got {size}")
        z_shape = (self.config.channels * 4**squeezes, size >> squeezes, size >> squeezes)
        z = torch.randn((n, *z_shape), generator=generator, device=self.device) * temperature
        return self.inverse(z).floor().clamp(0, 255).to(torch.uint8)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation of actnorm and weight-normalised convolutions from a batch of 8-bit ``x``."""
        self.elbo(x)

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Write ``path`` (state_dict) and ``path.json`` (config + ``extra``); :func:`load_model` reads them."""
        path = Path(path)
        torch.save(self.state_dict(), path)
        meta = {"config": self.config.to_json(), **(extra or {})}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[FlowPlusPlus, dict]:
    """Load a model saved by :meth:`FlowPlusPlus.save` (weights only, no code executed); returns it in eval mode."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"model needs both {path} and {meta_path}")
    meta = json.loads(meta_path.read_text())
    if "config" not in meta:
        raise ValueError(f"{meta_path}: no 'config' entry")
    model = FlowPlusPlus(FlowConfig.from_json(meta["config"]))
    model.load_state_dict(torch.load(path, map_location=map_location, weights_only=True))
    return model.eval(), meta
