"""The two ways of asking a backbone, behind one registry: option scoring and generation.

* ``option``: ``backbone.score_options`` gives a log-probability per option letter; the
  prediction is the argmax, so it is never invalid (ties go to the earlier letter).
* ``generate``: ``backbone.generate`` gives free text; ``parse_answer`` reads a letter or
  says INVALID, and the verdict is kept with the raw text.
Both are reported side by side: a gap between them on the same model is a finding (format
failures, position bias), not noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from medmat.registry import Registry
from medmat.answers import parse_answer
from medmat.models.base import Backbone
from medmat.records import LETTERS, VQAItem


@dataclass(frozen=True, slots=True)
class Answer:
    pred: str | None
    how: str
    raw: str | None = None
    scores: list[float] | None = None


@dataclass(frozen=True)
class ScoreSettings:
    batch_size: int = 8
    max_new_tokens: int = 16


Scorer = Callable[[Backbone, Sequence[VQAItem], Path, ScoreSettings], list[Answer]]
SCORERS: Registry[Scorer] = Registry("scorer")


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
