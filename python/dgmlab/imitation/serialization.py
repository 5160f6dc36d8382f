"""Save / load models as a zip of JSON (config, metadata) and ``state_dict`` files, never pickled objects.

Layout of a saved file::

    meta.json        {"format": "dgmlab.imitation", "version": ..., "class": "GAIL", ...extra metadata}
    config.json      the algorithm's config dataclass (nested dataclasses as objects)
    <name>.pt        one torch state_dict per component (policy, value, discriminator, optimisers, rng)

State dicts are read with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import typing
import zipfile
from pathlib import Path
from typing import Any, TypeVar

import torch

FORMAT = "dgmlab.imitation"
C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a (possibly nested) config dataclass from ``dataclasses.asdict`` output; unknown keys raise."""
    if not isinstance(data, dict):
        raise ValueError(f"config: expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"config: unknown fields {sorted(unknown)} for {cls.__name__}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = config_from_dict(hint, value)
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def save_zip(path: str | Path, cls_name: str, config: Any, state: dict[str, dict], meta: dict[str, Any]) -> Path:
    """Write ``state`` (name -> state_dict) and the JSON config/metadata to ``path`` atomically."""
    from dgmlab import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps({"format": FORMAT, "version": __version__, "class": cls_name, **meta}))
        zf.writestr("config.json", json.dumps(dataclasses.asdict(config), indent=2))
        for name, sd in state.items():
            buf = io.BytesIO()
            torch.save(sd, buf)
            zf.writestr(f"{name}.pt", buf.getvalue())
    tmp.replace(path)
    return path


def load_zip(path: str | Path, expected_class: str) -> tuple[dict, dict, dict[str, dict]]:
    """Read ``(meta, config_dict, state)`` from a file written by :func:`save_zip` for ``expected_class``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no saved model at {str(path)!r}")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise ValueError(f"path: {str(path)!r} is not a dgmlab.imitation zip file") from err
    with zf:
        names = set(zf.namelist())
        if not {"meta.json", "config.json"} <= names:
            raise ValueError(f"path: {str(path)!r} lacks meta.json/config.json; not a dgmlab.imitation file")
        meta = json.loads(zf.read("meta.json"))
        if meta.get("format") != FORMAT or meta.get("class") != expected_class:
            raise ValueError(f"path: {str(path)!r} holds a {meta.get('class')!r}, expected {expected_class!r}")
        config = json.loads(zf.read("config.json"))
        state = {n[:-3]: torch.load(io.BytesIO(zf.read(n)), weights_only=True) for n in names if n.endswith(".pt")}
    return meta, config, state
