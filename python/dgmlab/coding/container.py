"""The compressed-file container: a JSON header (what the decoder must rebuild) and the rANS message, checksummed.

>>> from dgmlab.coding.container import read_container, write_container
>>> blob = write_container({"delta": 2.0**-32}, b"payload")
>>> read_container(blob)
({'delta': 2.3283064365386963e-10}, b'payload')

Layout (little endian)::

    magic    8 bytes  b"DGMLBB\\r\\n"   (the CR LF catches text-mode mangling, like PNG's)
    version  u16      FORMAT_VERSION
    hlen     u32      length of the header
    header   hlen     UTF-8 JSON object
    plen     u64      length of the payload
    payload  plen     Message.to_bytes()
    crc      u32      CRC-32 of everything before it

The header of ``dgmlab compress`` holds the model id and weights hash, the images (names, sizes, modes, padding),
the tile size and batch layout, δ, σ, the value range, the stream count and seed, and the torch thread count and
dtype of the coding path.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

__all__ = ["FORMAT_VERSION", "MAGIC", "read_container", "write_container"]

MAGIC = b"DGMLBB\r\n"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<8sHI")
_PLEN = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def write_container(header: dict[str, Any], payload: bytes) -> bytes:
    """Serialise a header (JSON-compatible dict) and payload bytes."""
    if not isinstance(header, dict):
        raise ValueError(f"header: expected a dict, got {type(header).__name__}")
    head = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    body = _HEAD.pack(MAGIC, FORMAT_VERSION, len(head)) + head + _PLEN.pack(len(payload)) + bytes(payload)
    return body + _CRC.pack(zlib.crc32(body))


def read_container(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Parse :func:`write_container` output; foreign, truncated, corrupt or newer files raise ``ValueError``."""
    data = bytes(data)
    if len(data) < _HEAD.size or data[:8] != MAGIC:
        raise ValueError("not a dgmlab compressed file (bad magic)")
    _, version, hlen = _HEAD.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported container version {version} (this dgmlab reads version {FORMAT_VERSION})")
    end_head = _HEAD.size + hlen
    if len(data) < end_head + _PLEN.size + _CRC.size:
        raise ValueError("truncated dgmlab compressed file")
    (plen,) = _PLEN.unpack_from(data, end_head)
    end = end_head + _PLEN.size + plen
    if len(data) != end + _CRC.size:
        raise ValueError(f"truncated or padded dgmlab compressed file ({len(data)} bytes, expected {end + 4})")
    if zlib.crc32(data[:end]) != _CRC.unpack_from(data, end)[0]:
        raise ValueError("corrupt dgmlab compressed file (checksum mismatch)")
    try:
        header = json.loads(data[_HEAD.size:end_head].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"corrupt dgmlab compressed file (bad header: {e})") from None
    if not isinstance(header, dict):
        raise ValueError("corrupt dgmlab compressed file (header is not an object)")
    return header, data[end_head + _PLEN.size:end]
