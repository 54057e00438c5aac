"""``render(latent, size)``: the pure function from a latent to pixels.

Order matters for compositional generalization: area -> tissue map, findings added to the
tissue map with a fixed contrast, THEN the modality style, THEN the acquisition quality.
So a finding looks the same relative to its surroundings whatever the modality and area
(unless the entanglement dial, ``synth/dial.py``, gave it a modality- or area-specific look).
"""

from __future__ import annotations

import numpy as np

from medmat.synth.anatomy import organ_frame
from medmat.synth.dial import draw_dressed
from medmat.synth.findings import draw_lesion
from medmat.synth.grids import Grid, grid
from medmat.synth.latent import Latent
from medmat.synth.styles import MODALITIES

__all__ = ["render", "render_float"]


def render_float(latent: Latent, size: int) -> np.ndarray:
    """RGB float32 (H, W, 3), nominally in [0, 1], before quantisation."""
    g = grid(size)
    rng = np.random.default_rng(latent.seed)
    anatomy = organ_frame(latent.area, latent.pose, g)
    tissue = anatomy.tissue.astype(np.float32, copy=True)
    tissue += 0.02 * g.smooth(rng, 7) * anatomy.organ
    for lesion in latent.lesions:  # a finding dressed by the entanglement dial is drawn by synth/dial.py
        (draw_lesion if lesion.plain else draw_dressed)(tissue, lesion, g)
    # the style gets its own stream so that removing a lesion leaves the texture unchanged
    style_rng = np.random.default_rng([latent.seed, 1])
    rgb = MODALITIES.get(latent.modality)(tissue, anatomy.bone, g, style_rng)
    return _quality(rgb.astype(np.float32), latent.quality, g, np.random.default_rng([latent.seed, 2]))


def _quality(rgb: np.ndarray, quality: str, g: Grid, rng: np.random.Generator) -> np.ndarray:
    if quality == "good":
        return rgb
    if quality == "blurred":
        k = g.blur_width  # separable box blur by running sums (no BLAS threads in the hot path)
        return _box(_box(rgb, k, 0), k, 1)
    if quality == "noisy":
        return rgb + 0.16 * rng.standard_normal(rgb.shape, dtype=np.float32)
    raise ValueError(f"unknown quality {quality!r}")


def _box(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mean over a centred window of k pixels along ``axis``, renormalised at the borders."""
    half = k // 2
    n = a.shape[axis]
    c = np.cumsum(np.moveaxis(a, axis, 0), axis=0, dtype=np.float32)
    c = np.concatenate([np.zeros((1,) + c.shape[1:], np.float32), c])
    hi = np.minimum(np.arange(n) + half + 1, n)
    lo = np.maximum(np.arange(n) - half, 0)
    out = (c[hi] - c[lo]) / (hi - lo).astype(np.float32).reshape((n,) + (1,) * (a.ndim - 1))
    return np.moveaxis(out, 0, axis)


def render(latent: Latent, size: int) -> np.ndarray:
    """(size, size, 3) uint8 image; a pure, deterministic function of ``latent`` and ``size``."""
    rgb = render_float(latent, size)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
