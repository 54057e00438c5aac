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

    pred        predicted letter, or None when the answer was INVALID (generation only);
                for a grounding item (box scorer) the predicted box as medmat's text
                ``[x1, y1, x2, y2]`` (0-1000)
    parsed_how  'argmax' for option scoring; the parser's verdict for generation
    raw         the generated text (None for option scoring)
    scores      option log-probabilities (option scoring only), in the rotated order
    answer      the correct letter of this rotation (a grounding item: its box text)
    iou         box scorer only: IoU of the predicted box with the true one (0 when INVALID);
                absent from the rows of every other scorer
    n_options   0 for a grounding item (it has no options)
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
    iou: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["iou"] is None:  # letter rows keep the bytes they had before box rows existed
            del d["iou"]
        return d

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
