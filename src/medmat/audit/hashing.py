"""Image fingerprints for leakage checks.

``pixel_hash`` hashes decoded pixels, not file bytes: the same picture saved again (PNG
re-compressed, JPEG->PNG, an RGB copy of a grey image) has a different ``image_hash``
(sha256 of the bytes) but the same pixel hash. ``phash`` is the DCT perceptual hash
(32x32 grey, 2-D DCT-II, top-left 8x8 block minus DC vs its median): robust to resizing,
mild brightness/contrast changes and re-encoding, so near duplicates are within a few
bits of Hamming distance while unrelated images are around 32 apart.

pHash only sees the coarse layout: medical images of one modality share a silhouette
(a fundus disc, a CT body outline) and distinct pictures can hash within a few bits.
``structure_similarity`` confirms a candidate pair: the correlation of the Laplacians
(edges and texture, insensitive to brightness/contrast offsets) of 32x32 thumbnails.
Resized, brightened or re-compressed copies score >= 0.94 in our tests; distinct
same-silhouette images mostly below 0.9 (``DEFAULT_MIN_SIMILARITY``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


def _canonical(img: Image.Image) -> Image.Image:
    """One pixel representation per picture: grey if all channels agree, else RGB."""
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(bg, img).convert("RGB")
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        img = Image.fromarray(np.round(scaled).astype(np.uint8))
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if img.mode == "RGB":
        a = np.asarray(img)
        if (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
            img = Image.fromarray(np.ascontiguousarray(a[..., 0]))
    return img


def load(path: str | Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return _canonical(im)


def pixel_hash(img: Image.Image) -> str:
    h = hashlib.sha256(f"{img.mode}:{img.width}x{img.height}:".encode())
    h.update(np.ascontiguousarray(np.asarray(img)).tobytes())
    return h.hexdigest()


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def phash(img: Image.Image, size: int = 32, block: int = 8) -> int:
    """64-bit DCT perceptual hash as an int."""
    grey = img.convert("L").resize((size, size), Image.Resampling.LANCZOS)
    a = np.asarray(grey, dtype=np.float64)
    d = _dct_matrix(size)
    coef = (d @ a @ d.T)[:block, :block].flatten()[1:]  # drop DC: brightness offset
    bits = coef > np.median(coef)
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out  # 63 bits


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


THUMB = 32
DEFAULT_MIN_SIMILARITY = 0.9


def thumbnail(img: Image.Image) -> bytes:
    """32x32 grey thumbnail (box filter), 1 KB per image, kept for verifying candidates."""
    return img.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX).tobytes()


def structure_similarity(a: bytes, b: bytes) -> float:
    """Correlation of the Laplacians of two thumbnails, in [-1, 1]."""
    la, lb = _laplacian(a), _laplacian(b)
    den = float(np.sqrt((la * la).sum() * (lb * lb).sum()))
    return float((la * lb).sum() / den) if den > 0 else float(np.array_equal(la, lb))


def _laplacian(t: bytes) -> np.ndarray:
    x = np.frombuffer(t, dtype=np.uint8).reshape(THUMB, THUMB).astype(np.float64)
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return lap - lap.mean()
