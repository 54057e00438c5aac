"""Fixtures for the evaluation tests: VQA items and fake backbones built in memory.

The fakes implement the real ``Backbone`` interface, so ``evaluate`` is exercised exactly
as with a trained model; they are never registered globally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from medmat.models.base import Backbone, FitCallback, FitResult, TrainConfig
from medmat.records import LETTERS, VQAItem, format_question_choice

LABELS = ["Stone", "Cyst", "Normal", "Tumor"]


def make_item(i: int, n_options: int = 4, answer_index: int = 0, subset: str = "02",
              triplet: str = "CT/Kidney/Kidney Disease Classification", split: str = "test",
              question: str = "Review this kidney CT scan and determine the possible condition it represents.",
              ) -> VQAItem:
    options = LABELS[:n_options]
    return VQAItem(
        id=i, caption=options[answer_index], image=f"images/{i:04d}.png", question=question,
        answer=options[answer_index], question_choice=format_question_choice(question, options),
        answer_choice=LETTERS[answer_index], data_no=subset, item_id=f"{subset}-{i:04d}", triplet=triplet,
        subset=subset, split=split, dataset="kidney", source_record=f"r{i}", options=list(options),
        answer_index=answer_index, labels=[options[answer_index]],
    )


def make_items(n: int, seed_shift: int = 0, **kw: Any) -> list[VQAItem]:
    """n items with 2..4 options and answers spread over the positions."""
    out = []
    for i in range(n):
        k = 2 + (i % 3)
        out.append(make_item(i, n_options=k, answer_index=(i // 3 + seed_shift) % k, **kw))
    return out


class FakeBackbone(Backbone):
    """Answers by a rule; records every call so tests can check batching and prompts."""

    name = "fake"

    def __init__(self, rule: str = "oracle", generations: dict[str, str] | None = None):
        self.rule = rule
        self.generations = generations or {}
        self.calls: list[tuple[str, int]] = []
        self.prompts: list[str] = []

    def _choice(self, item: VQAItem) -> int:
        if self.rule == "always-a":
            return 0
        if self.rule == "oracle":  # reads the label text, so it follows the option through rotations
            return item.options.index(item.answer)
        if self.rule == "last":
            return item.n_options - 1
        raise ValueError(self.rule)

    def fit(self, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
            callbacks: Sequence[FitCallback] = ()) -> FitResult:
        raise NotImplementedError("the fake backbone answers by a rule; it cannot be trained")

    def score_options(self, items: Sequence[VQAItem], store_root: Path, batch_size: int = 8) -> list[list[float]]:
        self.calls.append(("score", len(items)))
        out = []
        for it in items:
            self.prompts.append(it.question_choice)
            row = [-5.0] * it.n_options
            row[self._choice(it)] = -0.1
            out.append(row)
        return out

    def generate(self, items: Sequence[VQAItem], store_root: Path, max_new_tokens: int = 16, batch_size: int = 8) -> list[str]:
        self.calls.append(("generate", len(items)))
        out = []
        for it in items:
            if it.item_id in self.generations:
                out.append(self.generations[it.item_id])
            else:
                out.append(f"The answer is {LETTERS[self._choice(it)]}.")
        return out

    def save(self, out_dir: Path) -> None:
        pass

    @classmethod
    def load(cls, path: Path | None, *, seed: int = 0, **kwargs: Any) -> "FakeBackbone":
        return cls(**kwargs)


def write_store(root: Path, items: list[VQAItem], size: int = 16) -> Path:
    """A minimal VQA store on disk: items.jsonl plus one PNG per item.

    Each label has its own shape (square, horizontal bar, nothing, vertical bar), so a
    model can learn the label from the image alone (needed to overfit a model).
    """
    import numpy as np
    from PIL import Image

    from medmat.io import write_jsonl

    rng = np.random.default_rng(0)
    for it in items:
        a = rng.integers(0, 50, size=(size, size)).astype(np.uint8)
        r, c = rng.integers(3, size - 4, size=2)
        shape = LABELS.index(it.answer)
        if shape == 0:
            a[r - 2:r + 3, c - 2:c + 3] = 230
        elif shape == 1:
            a[r, 1:size - 1] = 230
        elif shape == 3:
            a[1:size - 1, c] = 230
        path = root / it.image
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).convert("RGB").save(path)
    write_jsonl(root / "items.jsonl", (it.to_dict() for it in items))
    return root
