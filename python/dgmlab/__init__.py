"""dgmlab: deep generative models made useful.

Lossless image compression with flow models (Flow++ and local bits-back coding on a native rANS coder),
imitation learning (GAIL with TRPO), World Models on car racing, and pragmatic compression (PICO).

Subpackages are imported on demand so that ``import dgmlab`` stays cheap (no torch, no gymnasium)::

    import dgmlab
    dgmlab.build_info()          # how the native core was built (OpenMP, CUDA, compiler)
    from dgmlab.coding import Message, DiscretizedGaussian
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "build_info", "cmake_dir", "include_dir"]


def build_info() -> dict:
    """How the native extension was built: version, OpenMP, thread count, CUDA, compiler."""
    from dgmlab._info import build_info as _build_info

    return _build_info()


def include_dir() -> str:
    """Folder holding the header-only C++ coder (``#include <dgmlab/rans.hpp>``)."""
    from dgmlab._info import include_dir as _include_dir

    return _include_dir()


def cmake_dir() -> str:
    """Folder holding ``dgmlabConfig.cmake``: pass it as ``-Ddgmlab_DIR=...`` to ``find_package(dgmlab)``."""
    from dgmlab._info import cmake_dir as _cmake_dir

    return _cmake_dir()
