"""Items -> padded id tensors, once per fit/score call (not per step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from medmat.records import LETTERS, VQAItem

from .tokenizer import PAD, WordTokenizer


BOX_KINDS = ("box-choice",)
"""Item kinds whose options are boxes: scored by the image inside each box (net.py), the
option text being the finding asked about (the item's ``caption``), never the box numbers."""


def is_box_item(it: VQAItem) -> bool:
    return it.kind in BOX_KINDS


def option_texts(it: VQAItem) -> list[str]:
    """What each option is scored through: its label text, or, for a box option, the finding."""
    return [it.caption] * len(it.options) if is_box_item(it) else list(it.options)


def item_texts(items: Sequence[VQAItem]) -> list[str]:
    """The texts whose words make the vocabulary: instructions and option labels (findings of box items)."""
    out: list[str] = []
    for it in items:
        out.append(it.question)
        out.extend(option_texts(it)[:1] if is_box_item(it) else it.options)
    return out


def _pad(rows: list[list[int]]) -> torch.Tensor:
    width = max((len(r) for r in rows), default=1)
    t = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        t[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return t


@dataclass
class Encoded:
    q_ids: torch.Tensor  # [N, Lq]
    opt_ids: torch.Tensor  # [N, K, Lo]
    opt_mask: torch.Tensor  # [N, K] bool
    answer: torch.Tensor  # [N] (the item's answer_index)
    n_options: list[int]
    boxes: torch.Tensor | None = None  # [N, K, 4] option boxes (0-1) when any item is a box item
    is_box: torch.Tensor | None = None  # [N] bool

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.q_ids[idx], self.opt_ids[idx], self.opt_mask[idx], self.answer[idx]

    def geometry(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """The net's box arguments for a batch: none at all for classification-only items,
        so their forward pass is exactly the one without box support."""
        if self.boxes is None or self.is_box is None:
            return {}
        return {"boxes": self.boxes[idx], "is_box": self.is_box[idx]}


def encode_items(items: Sequence[VQAItem], tok: WordTokenizer) -> Encoded:
    """Encode questions (the instruction, without the lettered list) and each option text.

    Options are scored one by one through their text, so the lettered ``question_choice``
    would only repeat them; an item must have 1..4 options and a valid answer index.
    """
    k = len(LETTERS)
    q_rows, opt_rows, mask_rows, answers, n_opts = [], [], [], [], []
    for it in items:
        n = len(it.options)
        if not 1 <= n <= k:
            raise ValueError(f"item {it.item_id}: {n} options (the reference model handles 1..{k})")
        if not 0 <= it.answer_index < n:
            raise ValueError(f"item {it.item_id}: answer_index {it.answer_index} outside its {n} options")
        q_rows.append(tok.encode(it.question))
        opt_rows.append([tok.encode(o) for o in option_texts(it)] + [[PAD]] * (k - n))
        mask_rows.append([True] * n + [False] * (k - n))
        answers.append(it.answer_index)
        n_opts.append(n)
    lo = max((len(o) for row in opt_rows for o in row), default=1)
    opt = torch.full((len(items), k, lo), PAD, dtype=torch.long)
    for i, row in enumerate(opt_rows):
        for j, ids in enumerate(row):
            opt[i, j, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    boxes = is_box = None
    if any(is_box_item(it) for it in items):
        is_box = torch.tensor([is_box_item(it) for it in items], dtype=torch.bool)
        boxes = torch.zeros((len(items), k, 4), dtype=torch.float32)
        for i, it in enumerate(items):
            if is_box_item(it):
                if len(it.option_boxes) != len(it.options):
                    raise ValueError(f"item {it.item_id}: {len(it.option_boxes)} option boxes for {len(it.options)} options")
                boxes[i, : len(it.option_boxes)] = torch.tensor(it.option_boxes, dtype=torch.float32)
    return Encoded(
        q_ids=_pad(q_rows), opt_ids=opt, opt_mask=torch.tensor(mask_rows, dtype=torch.bool).reshape(len(items), k),
        answer=torch.tensor(answers, dtype=torch.long), n_options=n_opts, boxes=boxes, is_box=is_box,
    )
