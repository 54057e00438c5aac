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
                  label: str | None = None) -> Path:
    """Render one image per (modality, area) of the design for ``task``/``label`` (default:
    the task's first label) and write the grid with row/column names drawn."""
    from PIL import Image, ImageDraw

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
    draw.text((3, 3), f"{tdef.key}: {label}", fill=(160, 0, 0))
    out = Path(out_path)
    write_bytes(out, encode_png(np.asarray(img)))
    return out
