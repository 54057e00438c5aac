"""The entanglement dial: how much a finding's look depends on the modality and the area.

At ``modality_effect = area_effect = 0`` (the default) a finding is the same bright blob of
fixed contrast everywhere, so what is learned on one modality or area transfers to every
other by construction. Real data sits between that and no sharing at all; the dial moves
the synthetic world along that axis:

* ``modality_effect`` m: each modality has its own look (``MODALITY_LOOKS``): polarity and
  strength of the fill, a rim along the outline, a two-band texture across the finding and
  a sharp or soft edge. A lesion's look is the blend ``(1 - m) * standard + m * modality``
  of these parameters.
* ``area_effect`` a: each area scales its findings (``AREA_LOOKS``: applied when the
  finding is placed, so it always fits inside the organ and never touches another one) and
  surrounds them with a brighter or darker halo (context).

Labels stay recoverable at every setting: the label-bearing property (presence, outline,
count, side, acquisition defect) is never touched, and every blend keeps the finding
visible (``look_strength`` >= ``MIN_STRENGTH``, checked for every modality and area on a
grid of settings in the tests). Looks are written into each ``Lesion`` at sampling time, so
``render`` stays a pure function of the latent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from medmat.synth.findings import Placer, extent, lesion_frame
from medmat.synth.grids import Grid
from medmat.synth.latent import LESION_CONTRAST, Lesion


@dataclass(frozen=True)
class Look:
    """How a finding is drawn into the tissue map (units of tissue contrast; edge in pixels)."""

    fill: float = LESION_CONTRAST
    rim: float = 0.0
    texture: float = 0.0
    edge: float = 1.0


STANDARD = Look()
# Every modality differs from the standard blob in at least one of polarity, rim, texture or
# edge; looks whose fill changes sign carry a rim or texture, so no blend makes them vanish.
MODALITY_LOOKS: dict[str, Look] = {
    "CT": Look(fill=0.30, edge=0.5),                          # sharp, slightly fainter
    "MRI": Look(fill=-0.28, rim=0.40),                        # dark core, bright rim
    "X-ray": Look(fill=0.08, rim=0.38),                       # a ring: faint inside, bright outline
    "Ultrasound": Look(fill=-0.30, rim=0.32, edge=2.5),       # soft hypo-echoic with an echogenic rim
    "Fundus Photography": Look(fill=0.30, texture=0.30),      # two bands: one half bright, one dark
    "Dermoscopy": Look(fill=-0.30, texture=0.30, edge=1.5),   # dark, banded
    "Microscopy": Look(fill=0.12, texture=0.35, edge=0.5),    # faint fill, strong bands, sharp
    "Endoscopy": Look(fill=0.35, rim=-0.25, edge=3.0),        # very soft with a dark outline
}


@dataclass(frozen=True)
class AreaLook:
    scale: float = 1.0  # lesion size factor
    halo: float = 0.0  # tissue contrast on a ring just outside the finding


AREA_LOOKS: dict[str, AreaLook] = {
    "Brain": AreaLook(scale=0.85, halo=-0.18),   # small, dark oedema ring
    "Lung": AreaLook(scale=1.12, halo=0.0),      # large
    "Breast": AreaLook(scale=1.0, halo=0.16),    # bright surrounding reaction
    "Kidney": AreaLook(scale=0.88, halo=0.12),
    "Liver": AreaLook(scale=1.1, halo=-0.14),
    "Bones": AreaLook(scale=0.92, halo=0.18),    # sclerotic rim
}
MIN_STRENGTH = 0.12


def blend(modality: str, area: str, modality_effect: float, area_effect: float) -> tuple[Look, AreaLook]:
    """The finding look of one (modality, area) at the given dial settings."""
    m, a = float(modality_effect), float(area_effect)
    target = MODALITY_LOOKS.get(modality, STANDARD)
    look = Look(
        fill=_mix(STANDARD.fill, target.fill, m), rim=_mix(0.0, target.rim, m),
        texture=_mix(0.0, target.texture, m), edge=_mix(1.0, target.edge, m),
    )
    area_look = AREA_LOOKS.get(area, AreaLook())
    return look, AreaLook(scale=_mix(1.0, area_look.scale, a), halo=_mix(0.0, area_look.halo, a))


def _mix(a: float, b: float, t: float) -> float:
    return round(a + (b - a) * t, 5) if t else a


def look_strength(look: Look, halo: float = 0.0) -> float:
    """A lower bound of how visible a finding is: the largest contrast any of its parts adds
    (fill, rim, the bright/dark texture bands, halo) -- zero would make it invisible."""
    return max(abs(look.fill), abs(look.rim), abs(look.fill) + abs(look.texture), abs(halo))


def is_on(modality_effect: float, area_effect: float) -> bool:
    return bool(modality_effect) or bool(area_effect)


def dress(lesions: tuple[Lesion, ...], look: Look, halo: float) -> tuple[Lesion, ...]:
    """The lesions with the look written into them (placement and size already done)."""
    return tuple(le.model_copy(update={"contrast": look.fill, "rim": look.rim, "texture": look.texture,
                                       "edge": look.edge, "halo": halo}) for le in lesions)


class ScaledPlacer(Placer):
    """A placer that scales every finding (area look) before fitting it into the organ, so a
    scaled finding obeys the same rules as any other (inside the organ, no overlap)."""

    def __init__(self, *args, scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = scale

    def place(self, make: Callable[[], Lesion], side: str | None = None, tries: int = 40) -> Lesion:
        def scaled() -> Lesion:
            proto = make()
            return proto.model_copy(update={"r": round(proto.r * self.scale, 5)})

        return super().place(scaled if self.scale != 1.0 else make, side, tries)


def draw_dressed(tissue: np.ndarray, lesion: Lesion, g: Grid) -> None:
    """Add a dialled finding to ``tissue`` in place: fill (+ texture) inside the outline, a
    rim on it, a halo just outside; soft edges ``lesion.edge`` pixels wide."""
    e = g.edge * lesion.edge
    band_w = max(0.35 * lesion.r, 1.2 * g.edge)  # rim and halo widths: visible at 64 px
    window, du, d = lesion_frame(lesion, g, extent(lesion) + 2 * e + 3 * band_w)
    inside = np.clip(0.5 - d / e, 0.0, 1.0)
    value = lesion.contrast * inside
    if lesion.texture:  # two bands across the finding, along its own axis (turns with it)
        value += lesion.texture * inside * np.sign(np.sin(np.pi * du / max(lesion.r, g.edge)))
    if lesion.rim:
        value += lesion.rim * np.clip(1.0 - np.abs(d) / band_w, 0.0, 1.0)
    if lesion.halo:
        value += lesion.halo * np.clip(1.0 - np.abs(d - 1.5 * band_w) / band_w, 0.0, 1.0)
    tissue[window] += value.astype(tissue.dtype, copy=False)
