"""One prediction row per (item, scorer, rotation): the raw data every metric is drawn from.

Rows are plain data (predictions.jsonl), so a report can recompute any metric, re-slice
by subset or triplet, or pair two arms item by item without rerunning a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class Prediction:
    """How one scorer answered one (possibly rotated) question.

    pred        predicted letter, or None when the answer was INVALID (generation only)
    parsed_how  'argmax' for option scoring; the parser's verdict for generation
    raw         the generated text (None for option scoring)
    scores      option log-probabilities (option scoring only), in the rotated order
    answer      the correct letter of this rotation
    """

    item_id: str
    subset: str
    triplet: str
    scorer: str
    rotation: int
    pred: str | None
    parsed_how: str
    correct: bool
    n_options: int
    answer: str
    raw: str | None = None
    scores: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Prediction":
        names = {f.name for f in fields(cls)}
        missing = [n for n in ("item_id", "scorer", "rotation", "pred", "correct", "n_options") if n not in d]
        if missing:
            raise ValueError(f"prediction row lacks {', '.join(missing)}: {d}")
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def valid(self) -> bool:
        return self.pred is not None
