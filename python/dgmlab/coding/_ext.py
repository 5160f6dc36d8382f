"""The coding subsystem's one door into the native extension."""

from dgmlab import _native

__all__ = ["_native"]
