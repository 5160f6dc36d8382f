"""Build information and install locations of the native core (the one module here that imports it)."""

from __future__ import annotations

from pathlib import Path

from dgmlab import _native

_PACKAGE_DIR = Path(__file__).resolve().parent


def build_info() -> dict:
    return dict(_native.build_info())


def include_dir() -> str:
    return str(_PACKAGE_DIR / "include")


def cmake_dir() -> str:
    return str(_PACKAGE_DIR / "share" / "cmake" / "dgmlab")
