"""Anatomical areas as area-independent *tissue maps*.

Every area is drawn in the organ's own frame (u, v) into three float maps:
``tissue`` (0 = air/outside, ~0.1-0.6 inside the body; findings later add a FIXED contrast
to it), ``organ`` (soft mask of where findings may lie) and ``bone`` (how much bone lies
there; each modality decides how bone looks). The modality never sees the area, and the
area never sees the modality: that independence is what lets a small model compose them.
Tissue values inside organs stay <= 0.6 so a lesion (+0.35) never saturates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from medmat.registry import Registry
from medmat.synth.grids import Grid, band, ellipse
from medmat.synth.latent import Pose


@dataclass
class Anatomy:
    tissue: np.ndarray
    organ: np.ndarray
    bone: np.ndarray


AreaFn = Callable[[np.ndarray, np.ndarray, float], Anatomy]
AREAS: Registry[AreaFn] = Registry("synthetic area")


def organ_frame(area: str, pose: Pose, g: Grid) -> Anatomy:
    """The area's tissue/organ/bone maps under the organ pose, on grid ``g``.

    Here, not in ``render``: findings need the organ mask to place lesions, and the
    renderer needs findings to draw them, so the shared geometry sits below both.
    """
    c, s = np.cos(pose.angle), np.sin(pose.angle)
    x, y = g.X - pose.dx, g.Y - pose.dy
    u = (c * x + s * y) / pose.scale
    v = (-s * x + c * y) / pose.scale
    return AREAS.get(area)(u.astype(np.float32), v.astype(np.float32), g.edge / pose.scale)


def _soft_and(*masks: np.ndarray) -> np.ndarray:
    out = masks[0]
    for m in masks[1:]:
        out = np.minimum(out, m)
    return out


@AREAS.register("Brain")
def brain(u, v, e):
    """Head ellipse, bright skull ring, brain with gyral folds and a dark midline fissure."""
    head = ellipse(u, v, 0.80, 0.93, e)
    inner = ellipse(u, v, 0.71, 0.85, e)
    organ = ellipse(u, v, 0.66, 0.80, e)
    folds = 0.06 * np.sin(15 * u + 3 * np.sin(5 * v)) * np.sin(15 * v + 3 * np.sin(5 * u))
    fissure = band(u, 0.018, e) * (v < 0.55)
    tissue = 0.22 * head + organ * (0.24 + folds - 0.2 * fissure)
    return Anatomy(tissue, organ * (1 - fissure), np.clip(head - inner, 0, 1))


@AREAS.register("Lung")
def lung(u, v, e):
    """Chest, two dark lung fields, heart shadow, curved ribs and spine."""
    chest = ellipse(u, v, 0.94, 0.86, e)
    fields = np.maximum(ellipse(u, v, 0.31, 0.64, e, -0.42, -0.06), ellipse(u, v, 0.31, 0.64, e, 0.42, -0.06))
    heart = ellipse(u, v, 0.28, 0.25, e, 0.12, 0.42)
    organ = np.clip(fields - heart, 0, 1)
    texture = 0.025 * np.sin(19 * u) * np.sin(17 * v)
    tissue = 0.36 * chest - organ * (0.24 - texture) + 0.12 * heart * chest
    ribs = band(((v + 0.3 * u * u) * 5.0) % 1.0 - 0.5, 0.06, e * 5) * (np.abs(u) > 0.08) * chest
    spine = band(u, 0.06, e) * chest
    return Anatomy(tissue, organ, np.clip(0.5 * ribs + spine, 0, 1))


@AREAS.register("Breast")
def breast(u, v, e):
    """A dome rising from the bottom edge with radial fibroglandular streaks."""
    dome = ellipse(u, v, 0.92, 1.55, e, 0.0, 1.0)
    organ = _soft_and(ellipse(u, v, 0.84, 1.45, e, 0.0, 1.0), np.clip(0.5 - (v - 0.92) / e, 0, 1))
    streak = 0.05 * np.sin(11 * np.arctan2(u, 1.05 - v)) * np.clip(1.1 - v, 0, 1)
    tissue = dome * (0.36 + streak)
    return Anatomy(tissue, organ, np.zeros_like(u))


@AREAS.register("Kidney")
def kidney(u, v, e):
    """Body cross-section, a bean-shaped kidney (hilum notch on its medial side), spine."""
    body = ellipse(u, v, 0.96, 0.82, e)
    bean = np.clip(ellipse(u, v, 0.50, 0.72, e) - ellipse(u, v, 0.22, 0.24, e, 0.52, 0.0), 0, 1)
    pelvis = ellipse(u, v, 0.12, 0.28, e, 0.2, 0.0)
    tissue = 0.26 * body + bean * (0.22 - 0.14 * pelvis)
    spine = ellipse(u, v, 0.11, 0.11, e, 0.78, 0.55)
    return Anatomy(tissue, bean, spine)


@AREAS.register("Liver")
def liver(u, v, e):
    """A liver wedge thick on the left, tapering to the right, with faint vessels."""
    body = ellipse(u, v, 0.96, 0.82, e)
    lobe = ellipse(u, v, 0.80, 0.64, e, -0.12, -0.04)
    cut = np.clip(0.5 - (v - (0.42 - 0.55 * u)) / e, 0, 1)
    organ = _soft_and(lobe, cut)
    vessels = band(np.sin(5 * u + 2.5 * v) * 0.3, 0.015, e)
    tissue = 0.26 * body + organ * (0.26 - 0.07 * vessels)
    spine = ellipse(u, v, 0.11, 0.11, e, 0.22, 0.64)
    return Anatomy(tissue, organ, spine)


@AREAS.register("Bones")
def bones(u, v, e):
    """A limb with two long bones (shafts with knobbed ends); findings sit in the bones."""
    limb = ellipse(u, v, 0.86, 1.0, e)
    organ = np.zeros_like(u)
    cortex = np.zeros_like(u)
    for cu in (-0.37, 0.37):
        shaft = band(u - cu, 0.22, e) * band(v, 0.72, e)
        knobs = np.maximum(ellipse(u, v, 0.27, 0.2, e, cu, -0.72), ellipse(u, v, 0.27, 0.2, e, cu, 0.72))
        shape = np.maximum(shaft, knobs)
        organ = np.maximum(organ, shape)
        cortex = np.maximum(cortex, shape * (1 - band(u - cu, 0.17, e)))
    tissue = 0.2 * limb + organ * 0.2
    return Anatomy(tissue, organ, np.clip(0.6 * organ + 0.4 * cortex, 0, 1))
