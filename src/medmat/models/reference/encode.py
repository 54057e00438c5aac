"""Items -> padded id tensors, once per fit/score call (not per step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from medmat.records import LETTERS, VQAItem

from .tokenizer import PAD, WordTokenizer


def item_texts(items: Sequence[VQAItem]) -> list[str]:
    """The texts whose words make the vocabulary: instructions and option labels."""
    out: list[str] = []
    for it in items:
        out.append(it.question)
        out.extend(it.options)
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

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.q_ids[idx], self.opt_ids[idx], self.opt_mask[idx], self.answer[idx]


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
        opt_rows.append([tok.encode(o) for o in it.options] + [[PAD]] * (k - n))
        mask_rows.append([True] * n + [False] * (k - n))
        answers.append(it.answer_index)
        n_opts.append(n)
    lo = max((len(o) for row in opt_rows for o in row), default=1)
    opt = torch.full((len(items), k, lo), PAD, dtype=torch.long)
    for i, row in enumerate(opt_rows):
        for j, ids in enumerate(row):
            opt[i, j, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return Encoded(
        q_ids=_pad(q_rows), opt_ids=opt, opt_mask=torch.tensor(mask_rows, dtype=torch.bool).reshape(len(items), k),
        answer=torch.tensor(answers, dtype=torch.long), n_options=n_opts,
    )
