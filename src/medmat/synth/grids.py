"""Per-size precomputed pixel grids, interpolation and blur matrices.

Rendering runs thousands of times per size, so everything that depends only on the image
size (coordinate grids, the bilinear up-sampling matrices used for smooth random fields,
the blur width of the 'blurred' quality label) is built once and cached here. The
hot path then needs only small matrix products, no scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from medmat.synth.latent import MAX_SIZE, MIN_SIZE



@dataclass(frozen=True)
class Grid:
    """Normalised pixel-centre coordinates: x left->right and y top->bottom, both in [-1, 1]."""

    size: int
    X: np.ndarray  # (H, W) float32
    Y: np.ndarray  # (H, W) float32
    R: np.ndarray  # distance from the image centre
    edge: float  # one pixel in normalised units: the width of soft edges
    blur_width: int  # box-blur window of the 'blurred' quality label, in pixels

    def up(self, n: int) -> np.ndarray:
        return _upsampler(self.size, n)

    def smooth(self, rng: np.random.Generator, n: int = 6) -> np.ndarray:
        """A smooth random field (about unit variance) from an n x n grid of normal values."""
        U = self.up(n)
        return (U @ rng.standard_normal((n, n)).astype(np.float32) @ U.T).astype(np.float32)

    def coord(self, v: float) -> int:
        """Pixel index of a normalised coordinate (clipped into the image)."""
        return int(min(self.size - 1, max(0, round((v + 1.0) * self.size / 2.0 - 0.5))))


@lru_cache(maxsize=16)
def grid(size: int) -> Grid:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"image size must be within {MIN_SIZE}..{MAX_SIZE} px, got {size}")
    c = ((np.arange(size, dtype=np.float32) + 0.5) * 2.0 / size - 1.0).astype(np.float32)
    Y, X = np.meshgrid(c, c, indexing="ij")
    R = np.sqrt(X * X + Y * Y)
    for a in (X, Y, R):
        a.setflags(write=False)
    return Grid(size, X, Y, R, 2.0 / size, max(3, size // 11) | 1)


@lru_cache(maxsize=64)
def _upsampler(size: int, n: int) -> np.ndarray:
    """Bilinear weights (size x n) from n evenly spaced nodes on [-1, 1] to pixel centres."""
    c = (np.arange(size) + 0.5) * 2.0 / size - 1.0
    nodes = np.linspace(-1.0, 1.0, n)
    step = 2.0 / (n - 1)
    W = np.clip(1.0 - np.abs(c[:, None] - nodes[None, :]) / step, 0.0, None)
    W /= W.sum(axis=1, keepdims=True)
    W = W.astype(np.float32)
    W.setflags(write=False)
    return W


def ellipse(u: np.ndarray, v: np.ndarray, a: float, b: float, edge: float, cu: float = 0.0, cv: float = 0.0) -> np.ndarray:
    """Soft (anti-aliased) ellipse mask in [0, 1]; an approximate signed distance keeps it cheap."""
    d = (np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2) - 1.0) * min(a, b)
    return np.clip(0.5 - d / edge, 0.0, 1.0)


def band(d: np.ndarray, half_width: float, edge: float) -> np.ndarray:
    """Soft mask of |d| < half_width (lines, rings, bars)."""
    return np.clip(0.5 - (np.abs(d) - half_width) / edge, 0.0, 1.0)
