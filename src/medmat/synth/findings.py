"""Findings: how each task's label becomes lesions (or an image-quality defect).

A finding is drawn into the tissue map *before* the modality stylisation as a shape with a
fixed relative contrast (``Lesion.contrast``, +0.35) to its local surroundings, so the
label-relevant property -- presence, outline shape, count, side -- is the same geometric
property in every modality and area. Nuisance (position inside the organ, size jitter,
orientation) is drawn from the same distribution for every label of a task.

Laterality note for model builders: labels 'left'/'right' mean the lesion lies in the
image's left/right half (viewer's side, |x| > 0.12). A horizontal flip swaps them, so do not
use symmetric (flip) augmentation on laterality data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from medmat.registry import Registry
from medmat.synth.anatomy import organ_frame
from medmat.synth.grids import Grid, grid
from medmat.synth.latent import Latent, Lesion, Pose, Quality

PLACE_SIZE = 96  # resolution of the organ mask used to place findings
VISIBLE_RADIUS = 0.8  # every modality shows the disc |(x, y)| < 0.8 (CT FOV, US fan, ...)
SIDE_MARGIN = 0.12
_N_BOUNDARY = 24
_ANGLES = np.linspace(0, 2 * np.pi, _N_BOUNDARY, endpoint=False)


def boundary(lesion: Lesion, n: int = _N_BOUNDARY) -> np.ndarray:
    """(n, 2) offsets of the lesion outline (+ an inner ring) from its centre, image frame."""
    th = _ANGLES if n == _N_BOUNDARY else np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = _radius(lesion.shape, lesion.r, th)
    pts = np.stack([rr * np.cos(th), rr * np.sin(th)], axis=1)
    pts = np.concatenate([pts, 0.5 * pts])
    c, s = np.cos(lesion.angle), np.sin(lesion.angle)
    return pts @ np.array([[c, s], [-s, c]])


def _radius(shape: str, r: float, th: np.ndarray) -> np.ndarray:
    if shape == "round":
        return np.full_like(th, r)
    if shape == "spiculated":
        return r * (0.5 + 0.85 * (0.5 + 0.5 * np.cos(5 * th)) ** 1.5)  # five broad spikes: visible at 48 px
    if shape == "elongated":
        a, b = 1.7 * r, 0.45 * r
        return a * b / np.sqrt((b * np.cos(th)) ** 2 + (a * np.sin(th)) ** 2)
    raise ValueError(f"unknown lesion shape {shape!r}")


def extent(lesion: Lesion) -> float:
    return float({"round": 1.0, "spiculated": 1.35, "elongated": 1.7}[lesion.shape] * lesion.r)


def lesion_frame(lesion: Lesion, g: Grid, ext: float) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """The window of ``g`` within ``ext`` of the lesion's centre, the window's coordinates
    along the lesion's own axis (``du``) and the signed distance to its outline (``d``,
    negative inside)."""
    i0, i1 = g.coord(lesion.y - ext), g.coord(lesion.y + ext) + 1
    j0, j1 = g.coord(lesion.x - ext), g.coord(lesion.x + ext) + 1
    dx = g.X[i0:i1, j0:j1] - lesion.x
    dy = g.Y[i0:i1, j0:j1] - lesion.y
    c, s = np.cos(lesion.angle), np.sin(lesion.angle)
    du, dv = c * dx + s * dy, -s * dx + c * dy
    rho = np.sqrt(du * du + dv * dv)
    if lesion.shape == "round":
        d = rho - lesion.r
    else:
        d = rho - _radius(lesion.shape, lesion.r, np.arctan2(dv, du))
    return (slice(i0, i1), slice(j0, j1)), du, d


def draw_lesion(tissue: np.ndarray, lesion: Lesion, g: Grid) -> None:
    """Add the lesion's soft mask times its contrast to ``tissue`` in place (window only)."""
    window, _, d = lesion_frame(lesion, g, extent(lesion) + 2 * g.edge)
    tissue[window] += lesion.contrast * np.clip(0.5 - d / g.edge, 0.0, 1.0)


# -- placement ------------------------------------------------------------------------
class Placer:
    """Chooses lesion centres fully inside the organ (and the visible disc), never overlapping."""

    def __init__(self, area: str, pose: Pose, rng: np.random.Generator):
        self.area, self.pose, self.rng = area, pose, rng
        self.g = grid(PLACE_SIZE)
        self.placed: list[Lesion] = []
        self._ready = False

    def _prepare(self) -> None:
        """Build the organ mask on first use: images without findings never pay for it."""
        anatomy = organ_frame(self.area, self.pose, self.g)
        self.mask = (anatomy.organ > 0.5) & (self.g.R < VISIBLE_RADIUS)
        self.ys, self.xs = np.nonzero(self.mask)
        self.padded = np.pad(self.mask, 1)  # out-of-image lookups land on False
        self._ready = True

    def place(self, make: Callable[[], Lesion], side: str | None = None, tries: int = 40) -> Lesion:
        """Draw lesions from ``make`` until one fits; its centre is uniform over the valid
        pixels (first valid one among seeded random draws)."""
        if not self._ready:
            self._prepare()
        g = self.g
        for _ in range(tries):
            proto = make()
            pts = boundary(proto)
            if not len(self.xs):
                break
            for _ in range(12):  # candidates drawn with replacement: the first valid one is uniform
                k = self.rng.integers(0, len(self.xs), 256)
                cx, cy = g.X[0, self.xs[k]], g.Y[self.ys[k], 0]
                ok = self._inside(cx[:, None] + pts[None, :, 0], cy[:, None] + pts[None, :, 1]).all(axis=1)
                if side == "left":
                    ok &= cx < -SIDE_MARGIN
                elif side == "right":
                    ok &= cx > SIDE_MARGIN
                for other in self.placed:
                    gap = extent(other) + extent(proto) + 0.05
                    ok &= (cx - other.x) ** 2 + (cy - other.y) ** 2 > gap * gap
                hit = np.flatnonzero(ok)
                if len(hit):
                    i = int(hit[0])
                    lesion = proto.model_copy(update={"x": round(float(cx[i]), 5), "y": round(float(cy[i]), 5)})
                    self.placed.append(lesion)
                    return lesion
        raise RuntimeError(f"could not place a {proto.shape} lesion (r={proto.r:.3f}, side={side}) in the organ")

    def _inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = self.g.size
        j = np.clip(np.floor((x + 1.0) * n / 2.0).astype(np.intp), -1, n)
        i = np.clip(np.floor((y + 1.0) * n / 2.0).astype(np.intp), -1, n)
        return self.padded[i + 1, j + 1]


# -- task samplers ----------------------------------------------------------------------
@dataclass(frozen=True)
class FindingKind:
    """How one task's labels map to findings; ``labels`` must match the design YAML."""

    labels: tuple[str, ...]
    sample: Callable[[str, np.random.Generator, Placer], tuple[tuple[Lesion, ...], Quality]]


FINDINGS: Registry[FindingKind] = Registry("synthetic finding kind")


def _lesion(rng: np.random.Generator, lo: float, hi: float, shape: str = "round") -> Callable[[], Lesion]:
    return lambda: Lesion(x=0.0, y=0.0, r=round(float(rng.uniform(lo, hi)), 5), shape=shape,
                          angle=round(float(rng.uniform(0, 2 * np.pi)), 5))


def _presence(label, rng, placer):
    if label == "abnormal":
        return (placer.place(_lesion(rng, 0.10, 0.14)),), "good"
    return (), "good"


def _shape(label, rng, placer):
    return (placer.place(_lesion(rng, 0.16, 0.18, label)),), "good"


_COUNTS = {"mild": 1, "moderate": 3, "severe": 6}


def _severity(label, rng, placer):
    make = _lesion(rng, 0.08, 0.10)
    return tuple(placer.place(make) for _ in range(_COUNTS[label])), "good"


def _laterality(label, rng, placer):
    return (placer.place(_lesion(rng, 0.10, 0.14), side=label),), "good"


def _quality(label, rng, placer):
    lesions = (placer.place(_lesion(rng, 0.10, 0.14)),) if rng.random() < 0.5 else ()
    return lesions, label


def _localisation(label, rng, placer):
    """One lesion drawn exactly as Lesion Presence draws 'abnormal' (the shared finding)."""
    return (placer.place(_lesion(rng, 0.10, 0.14)),), "good"


FINDINGS.add("presence", FindingKind(("abnormal", "normal"), _presence))
FINDINGS.add("shape", FindingKind(("round", "spiculated", "elongated"), _shape))
FINDINGS.add("severity", FindingKind(("mild", "moderate", "severe"), _severity))
FINDINGS.add("laterality", FindingKind(("left", "right"), _laterality))
FINDINGS.add("quality", FindingKind(("good", "blurred", "noisy"), _quality))
FINDINGS.add("localisation", FindingKind(("abnormal",), _localisation))


def label_of(latent: Latent, kind: str) -> str:
    """Re-derive a label from a latent's findings (an independent check of the sampler)."""
    if kind == "presence":
        return "abnormal" if latent.lesions else "normal"
    if kind == "shape":
        return latent.lesions[0].shape
    if kind == "severity":
        return {v: k for k, v in _COUNTS.items()}[len(latent.lesions)]
    if kind == "laterality":
        return "left" if latent.lesions[0].x < 0 else "right"
    if kind == "quality":
        return latent.quality
    if kind == "localisation":
        return "abnormal" if latent.lesions else ""
    raise ValueError(f"unknown finding kind {kind!r}")
