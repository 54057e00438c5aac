"""The two ways of asking a backbone, behind one registry: option scoring and generation.

* ``option``: ``backbone.score_options`` gives a log-probability per option letter; the
  prediction is the argmax, so it is never invalid (ties go to the earlier letter).
* ``generate``: ``backbone.generate`` gives free text; ``parse_answer`` reads a letter or
  says INVALID, and the verdict is kept with the raw text.
Both are reported side by side: a gap between them on the same model is a finding (format
failures, position bias), not noise.
* ``box``: grounding items (``kind`` grounding, no options): ``backbone.generate`` gives
  free text, ``medmat.boxes.parse_box`` reads one box in the convention the backbone's box
  syntax uses (``backbone.box_syntax``, default ``plain``: 0-1000 integers; a pixel syntax
  refers to ``answer_frame(item.image_size, backbone.box_resize)``), and the answer is right
  at IoU >= 0.5 with the true box.

Each scorer asks only the item kinds it can (``SCORER_KINDS``): ``option`` and
``generate`` ask choice and box-choice items, ``box`` grounding items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from medmat.registry import Registry
from medmat.answers import parse_answer
from medmat.boxes import BOX_SYNTAXES, answer_frame, box_text, hits, iou, parse_box, quantise
from medmat.models.base import Backbone
from medmat.records import LETTERS, VQAItem


@dataclass(frozen=True, slots=True)
class Answer:
    """One scorer's answer; ``correct`` None means "the letter equals the answer letter"."""

    pred: str | None
    how: str
    raw: str | None = None
    scores: list[float] | None = None
    iou: float | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class ScoreSettings:
    batch_size: int = 8
    max_new_tokens: int = 16


Scorer = Callable[[Backbone, Sequence[VQAItem], Path, ScoreSettings], list[Answer]]
SCORERS: Registry[Scorer] = Registry("scorer")
SCORER_KINDS: dict[str, frozenset[str]] = {
    "option": frozenset({"choice", "box-choice"}),
    "generate": frozenset({"choice", "box-choice"}),
    "box": frozenset({"grounding"}),
}
"""scorer -> the item kinds it asks (a scorer not listed asks choice and box-choice items)."""
LETTER_KINDS = frozenset({"choice", "box-choice"})


def scorer_kinds(name: str) -> frozenset[str]:
    return SCORER_KINDS.get(name, LETTER_KINDS)


@SCORERS.register("option")
def score_by_options(backbone: Backbone, items: Sequence[VQAItem], store_root: Path, cfg: ScoreSettings) -> list[Answer]:
    scores = backbone.score_options(items, store_root, batch_size=cfg.batch_size)
    if len(scores) != len(items):
        raise ValueError(f"{type(backbone).__name__}.score_options returned {len(scores)} rows for {len(items)} items")
    out = []
    for item, row in zip(items, scores):
        row = [float(s) for s in row]
        if len(row) != item.n_options:
            raise ValueError(
                f"{type(backbone).__name__}.score_options gave {len(row)} scores for item {item.item_id} "
                f"with {item.n_options} options"
            )
        if any(math.isnan(s) for s in row):
            raise ValueError(f"{type(backbone).__name__}.score_options gave NaN for item {item.item_id}")
        best = max(range(len(row)), key=lambda i: (row[i], -i))
        out.append(Answer(LETTERS[best], "argmax", None, row))
    return out


@SCORERS.register("generate")
def score_by_generation(backbone: Backbone, items: Sequence[VQAItem], store_root: Path, cfg: ScoreSettings) -> list[Answer]:
    texts = backbone.generate(items, store_root, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    if len(texts) != len(items):
        raise ValueError(f"{type(backbone).__name__}.generate returned {len(texts)} answers for {len(items)} items")
    out = []
    for item, text in zip(items, texts):
        parsed = parse_answer(text, item.options)
        out.append(Answer(parsed.letter, parsed.how, "" if text is None else str(text), None))
    return out


@SCORERS.register("box")
def score_by_box(backbone: Backbone, items: Sequence[VQAItem], store_root: Path, cfg: ScoreSettings) -> list[Answer]:
    texts = backbone.generate(items, store_root, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    if len(texts) != len(items):
        raise ValueError(f"{type(backbone).__name__}.generate returned {len(texts)} answers for {len(items)} items")
    syntax = BOX_SYNTAXES.get(getattr(backbone, "box_syntax", None) or "plain")
    resize = getattr(backbone, "box_resize", None)
    out = []
    for item, text in zip(items, texts):
        if item.answer_box is None:
            raise ValueError(f"item {item.item_id} ({item.kind}) has no answer_box to score a box against")
        frame = answer_frame(item.image_size, resize) if syntax.convention == "pixels" else None
        parsed = parse_box(text, syntax.convention, frame)
        overlap = iou(parsed.box, item.answer_box) if parsed.box is not None else 0.0
        pred = box_text(quantise(parsed.box)) if parsed.box is not None else None
        out.append(Answer(pred, parsed.how, "" if text is None else str(text), None, overlap, hits(overlap)))
    return out
