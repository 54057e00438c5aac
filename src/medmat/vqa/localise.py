"""Boxes of a record as box questions see them, and the distractor boxes of ``box-choice``.

A record's boxes are pixels of its stored image (``LabeledRecord.boxes``); questions use
medmat's 0-1000 integer form (``medmat.boxes``), so option texts and ``option_boxes``
agree exactly. The image size comes from the materialiser (``meta['width'/'height']``).

Distractors (``place_distractors``): boxes of exactly the true box's size, inside the
image, whose IoU with every true box of the image (any label) and with each other is
below ``MAX_IOU``. Candidate positions lie on a grid over the room the box leaves
(``GRID`` + 1 steps per axis, so distractors spread over the whole image), visited in a
seeded order; when fewer than three fit, the question has fewer options.
"""

from __future__ import annotations

import random
from typing import Sequence

from medmat.boxes import IntBox, iou, quantise, to_unit
from medmat.records import LabeledRecord

MAX_IOU = 0.1
GRID = 24
AMBIGUOUS_AREA = 0.8
"""Grounding: a label whose second-largest box has at least this share of the largest's
area has no single "largest" instance to ask about (skipped as ``ambiguous-box``)."""


def record_size(rec: LabeledRecord) -> tuple[int, int] | None:
    """(width, height) of the record's stored image, when the materialiser recorded it."""
    w, h = rec.meta.get("width"), rec.meta.get("height")
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    return None


def int_boxes(rec: LabeledRecord, size: tuple[int, int]) -> dict[str, list[IntBox]]:
    """label -> its boxes in 0-1000 integers, largest first (ties: smaller coordinates first)."""
    out: dict[str, list[IntBox]] = {}
    for label, x1, y1, x2, y2 in rec.boxes:
        out.setdefault(label, []).append(quantise(to_unit(x1, y1, x2, y2, *size)))
    for boxes in out.values():
        boxes.sort(key=lambda b: (-(b[2] - b[0]) * (b[3] - b[1]), b))
    return out


def degenerate(b: IntBox) -> bool:
    return b[2] <= b[0] or b[3] <= b[1]


def _grid(span: int) -> list[int]:
    return sorted({round(i * span / GRID) for i in range(GRID + 1)}) if span > 0 else [0]


def place_distractors(target: IntBox, truths: Sequence[IntBox], rng: random.Random, k: int = 3) -> list[IntBox]:
    """Up to ``k`` boxes the size of ``target`` that overlap no true box nor each other."""
    w, h = target[2] - target[0], target[3] - target[1]
    cands = [(x, y, x + w, y + h) for x in _grid(1000 - w) for y in _grid(1000 - h)]
    rng.shuffle(cands)
    chosen: list[IntBox] = []
    for c in cands:
        if all(iou(c, t) < MAX_IOU for t in truths) and all(iou(c, d) < MAX_IOU for d in chosen):
            chosen.append(c)
            if len(chosen) == k:
                break
    return chosen


def ambiguous(boxes: Sequence[IntBox]) -> bool:
    """Whether the largest of several boxes is not clearly the largest (see AMBIGUOUS_AREA)."""
    if len(boxes) < 2:
        return False
    a = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes[:2]]
    return a[1] >= AMBIGUOUS_AREA * a[0]
