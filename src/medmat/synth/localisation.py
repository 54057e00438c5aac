"""The opt-in localisation task of the synthetic benchmark (``SynthConfig.localisation``).

* **Which pairs.** ``localisation: N`` draws N (modality, area) pairs of the design's grid
  by a rule fixed before anything is trained: among ``TRIES`` seeded draws
  (``localisation_seed``, the same for every seed of a study) of N pairs, keep the first
  that maximises (fewest, total) of the two cross-kind row counts: localisation pairs that
  have a classification fixed-task pair sharing their finding ((M, a', T) + (m', A, T), T a
  task whose labels include the finding), and classification triplets of such a task that
  have a localisation fixed-task pair. ``localisation: [Modality/Area, ...]`` names them.
* **Images.** ``per_label`` images per pair, each with one lesion drawn exactly as Lesion
  Presence draws 'abnormal' (``findings._localisation``), written like every other image.
* **Boxes from the latents.** A lesion's box is its outline's extent in pixels, rounded
  outwards (:func:`lesion_box`). Each localisation dataset gets ``boxes.csv`` (a
  ``box_table`` layout: image, split, label, x_min, y_min, x_max, y_max), so ``medmat
  build`` reads it with the real box-table reader and asks box-choice questions of it.

Without the setting nothing here runs and every file of a run is what it was before.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from medmat.io import write_text
from medmat.mat import Triplet
from medmat.synth.design import Design
from medmat.synth.findings import boundary
from medmat.synth.latent import Latent, Lesion, SynthConfig

TRIES = 60
TABLE = "boxes.csv"
COLUMNS = ("image", "split", "label", "x_min", "y_min", "x_max", "y_max")


def _grid(config: SynthConfig, design: Design) -> list[tuple[str, str]]:
    vocab = design.vocab()
    mods = {vocab.normalize("modality", m) for m in config.modalities} if config.modalities else None
    areas = {vocab.normalize("area", a) for a in config.areas} if config.areas else None
    return [(m, a) for m in design.modalities for a in design.areas
            if (mods is None or m in mods) and (areas is None or a in areas)]


def sharing_tasks(design: Design) -> set[str]:
    """Classification task names whose labels include the localisation finding."""
    loc = design.localisation
    return {t.name for t in design.tasks if loc is not None and loc.labels[0] in t.labels}


def cross_rows(pairs: list[tuple[str, str]], shared: list[tuple[str, str]]) -> tuple[int, int]:
    """(fewest, total) of the localisation targets with a classification fixed-task pair and
    the classification targets (``shared``: (M, A) of a task sharing the finding) with a
    localisation one."""
    def covered(m: str, a: str, pool: list[tuple[str, str]]) -> bool:
        return any(pm == m and pa != a for pm, pa in pool) and any(pm != m and pa == a for pm, pa in pool)

    det = sum(covered(m, a, shared) for m, a in pairs)
    cls = sum(covered(m, a, pairs) for m, a in shared)
    return min(det, cls), det + cls


def localisation_triplets(config: SynthConfig, design: Design, triplets: list[Triplet]) -> list[Triplet]:
    """The run's localisation triplets (module doc), in design order; [] when off."""
    if not config.localisation:
        return []
    loc = design.localisation
    if loc is None:
        raise ValueError("this design has no localisation task")
    vocab = design.vocab()
    grid = _grid(config, design)
    if isinstance(config.localisation, list):
        chosen = []
        for text in config.localisation:
            parts = [p.strip() for p in text.split("/")]
            if len(parts) == 3 and design.is_localisation(vocab.normalize("task", parts[2])):
                parts = parts[:2]
            if len(parts) != 2:
                raise ValueError(f"localisation pair {text!r}: write 'Modality/Area'")
            pair = (vocab.normalize("modality", parts[0]), vocab.normalize("area", parts[1]))
            if pair not in grid:
                raise ValueError(f"localisation pair {text!r} is outside the design (or the modality/area filters)")
            chosen.append(pair)
        pairs = sorted(set(chosen), key=grid.index)
    else:
        n = config.localisation
        if n > len(grid):
            raise ValueError(f"localisation: {n} pairs asked for, the grid has {len(grid)}")
        tasks = sharing_tasks(design)
        shared = [(t.modality, t.area) for t in triplets if t.task in tasks]
        best: tuple[tuple[int, int], list[tuple[str, str]]] | None = None
        for k in range(TRIES):
            rng = np.random.default_rng([config.localisation_seed, k])
            pick = [grid[i] for i in sorted(rng.permutation(len(grid))[:n])]
            score = cross_rows(pick, shared)
            if best is None or score > best[0]:
                best = (score, pick)
        pairs = best[1] if best else []
    return [Triplet.of(m, a, loc.name, vocab) for m, a in pairs]


def lesion_box(lesion: Lesion, size: int) -> tuple[int, int, int, int]:
    """The lesion's box in pixels of a ``size`` image (x1, y1 inclusive, x2, y2 exclusive):
    the extent of its outline, rounded outwards and kept inside the image."""
    pts = boundary(lesion, n=360)[:360]  # the outline (the second half is an inner ring)

    def px(v: float) -> float:
        return (v + 1.0) * size / 2.0

    x1, x2 = px(lesion.x + float(pts[:, 0].min())), px(lesion.x + float(pts[:, 0].max()))
    y1, y2 = px(lesion.y + float(pts[:, 1].min())), px(lesion.y + float(pts[:, 1].max()))
    return (max(0, math.floor(x1)), max(0, math.floor(y1)), min(size, math.ceil(x2)), min(size, math.ceil(y2)))


def write_tables(out: Path, rows: list[dict], design: Design, dataset_of: dict[str, str]) -> list[str]:
    """``raw/<dataset>/boxes.csv`` of every localisation dataset from the latents rows; the
    files written (relative to ``out``)."""
    by_ds: dict[str, list[dict]] = {}
    for r in rows:
        key = f"{r['modality']}/{r['area']}/{r['task']}"
        if key in dataset_of:
            by_ds.setdefault(dataset_of[key], []).append(r)
    written = []
    for ds, group in sorted(by_ds.items()):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in group:
            latent = Latent.model_validate({k: v for k, v in r.items() if k not in ("size", "sha256")})
            image = latent.path.split("/", 2)[2]  # raw/<dataset>/<rest>: relative to the layout root
            for lesion in latent.lesions:
                w.writerow((image, latent.split, latent.label, *lesion_box(lesion, int(r["size"]))))
        rel = f"raw/{ds}/{TABLE}"
        write_text(out / rel, buf.getvalue())
        written.append(rel)
    return written


def catalog_entries(t: Triplet, ident: str, design: Design, config: SynthConfig, phrases: tuple[str, str]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(subset, dataset) catalog entries of one localisation triplet."""
    loc = design.localisation
    assert loc is not None
    m, a = phrases
    common = {"modality": t.modality, "area": t.area, "task": t.task, "kind": "detection"}
    templates = [tpl.replace("{modality}", m).replace("{area}", a) for tpl in loc.templates]
    subset = {"id": ident, **common, "multi_label": False, "labels": list(loc.labels), "templates": templates,
              "builder": "box-choice"}
    dataset = {
        "id": ident, "name": f"Synthetic {t.modality} {t.area} {t.task}", **common, "subset": ident,
        "labels": list(loc.labels),
        "layout": {"type": "box_table", "root": ident, "table": TABLE, "image_column": "image",
                   "label_column": "label", "split_column": "split"},
        "access": "synthetic", "licence": "CC0-1.0",
        "notes": f"medmat synth, seed {config.seed}, {config.size} px, {config.per_label} images; boxes from the "
                 "latents (synth/localisation.py); layout roots are relative to OUT/raw",
    }
    return subset, dataset
