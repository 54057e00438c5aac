"""A minimal deterministic PNG encoder (8-bit RGB, no ancillary chunks, fixed zlib level).

Pillow would do, but owning the encoder keeps the bytes fixed (no timestamps, no library
version chunks) and is faster for small images: same pixels -> same bytes.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIG = b"\x89PNG\r\n\x1a\n"
LEVEL = 1


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(img: np.ndarray, level: int = LEVEL) -> bytes:
    """Encode an (H, W, 3) or (H, W) uint8 array."""
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"encode_png wants uint8 (H, W) or (H, W, 3), got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    rows = np.ascontiguousarray(img).reshape(h, -1)
    raw = np.zeros((h, rows.shape[1] + 1), np.uint8)  # filter byte 0 ('None') per row
    raw[:, 1:] = rows
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return _SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + _chunk(b"IEND", b"")
