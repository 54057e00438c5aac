"""Contact sheet: one PNG with every modality (rows) x area (columns), for human judgement."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from medmat.io import write_bytes
from medmat.synth.design import load_design
from medmat.synth.findings import FINDINGS, Placer
from medmat.synth.latent import Latent, Pose
from medmat.synth.png import encode_png
from medmat.synth.rendering import render

LABEL_W, HEADER_H, PAD = 120, 18, 2


def sheet_shape(n_rows: int, n_cols: int, size: int) -> tuple[int, int]:
    """(height, width) of a contact sheet: a header row and a label column plus the cells."""
    return HEADER_H + n_rows * (size + PAD) + PAD, LABEL_W + n_cols * (size + PAD) + PAD


def contact_sheet(out_path: str | os.PathLike, size: int = 64, seed: int = 0, task: str = "presence",
                  label: str | None = None, modality_effect: float = 0.0, area_effect: float = 0.0) -> Path:
    """Render one image per (modality, area) of the design for ``task``/``label`` (default:
    the task's first label) and write the grid with row/column names drawn. With the
    entanglement dial on (``synth/dial.py``) each cell's finding gets its modality's and
    area's look, drawn the way ``generate`` draws it; the same seed gives the same poses."""
    from PIL import Image, ImageDraw

    from medmat.synth.dial import ScaledPlacer, blend, dress, is_on

    design = load_design()
    tdef = design.task(task)
    label = label or tdef.labels[0]
    if label not in tdef.labels:
        raise ValueError(f"label {label!r} is not one of {tdef.labels}")
    mods, areas = list(design.modalities), list(design.areas)
    h, w = sheet_shape(len(mods), len(areas), size)
    canvas = np.full((h, w, 3), 255, np.uint8)
    for i, m in enumerate(mods):
        for j, a in enumerate(areas):
            rng = np.random.default_rng([seed, i, j])
            if is_on(modality_effect, area_effect):
                look, area_look = blend(m, a, modality_effect, area_effect)
                placer = ScaledPlacer(a, Pose(), rng, scale=area_look.scale)
                lesions, quality = FINDINGS.get(tdef.key).sample(label, rng, placer)
                lesions = dress(lesions, look, area_look.halo)
            else:
                lesions, quality = FINDINGS.get(tdef.key).sample(label, rng, Placer(a, Pose(), rng))
            lat = Latent(id=f"sheet-{i}-{j}", modality=m, area=a, task=tdef.name, label=label,
                         seed=int(rng.integers(2**62)), lesions=lesions, quality=quality)
            y, x = HEADER_H + PAD + i * (size + PAD), LABEL_W + PAD + j * (size + PAD)
            canvas[y:y + size, x:x + size] = render(lat, size)
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    for i, m in enumerate(mods):
        draw.text((3, HEADER_H + PAD + i * (size + PAD) + size // 2 - 5), m, fill=(0, 0, 0))
    for j, a in enumerate(areas):
        draw.text((LABEL_W + PAD + j * (size + PAD) + 2, 3), a, fill=(0, 0, 0))
    title = f"{tdef.key}: {label}"
    if is_on(modality_effect, area_effect):  # the dial settings instead of the task key (room: LABEL_W)
        title = f"m{modality_effect:g} a{area_effect:g} {label}"
    draw.text((3, 3), title, fill=(160, 0, 0))
    out = Path(out_path)
    write_bytes(out, encode_png(np.asarray(img)))
    return out
