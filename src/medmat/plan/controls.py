"""Vocabulary-control arms: they separate "learned the target's label words" from "reused
the visual finding".

* ``related-shuffled``: the related arm's items with the answers permuted within each
  subset. The model sees the target's label words (the related subsets share its task)
  but no link between an image and its label.
* ``unrelated-vocab``: the matched unrelated arm's images with the target's label words as
  options and a random answer. The model learns those words, from images that cannot
  say which one is right.

A control arm lists the same item ids as the arm it copies and names a *transform*
(``Arm.transform``) that the trainer applies to those items with the arm's seed
(:func:`apply_transform`). The manifest still fully determines the run, and the store's
items are never rewritten.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable, Sequence

from medmat.io import stable_hash
from medmat.records import LETTERS, VQAItem, format_question_choice
from medmat.registry import Registry

Transform = Callable[[Sequence[VQAItem], list[str], int], list[VQAItem]]
TRANSFORMS: Registry[Transform] = Registry("item transform")


def _with_answer(item: VQAItem, options: list[str], index: int) -> VQAItem:
    label = options[index]
    return replace(item, options=list(options), answer_index=index, answer=label, caption=label,
                   answer_choice=LETTERS[index], labels=[label],
                   question_choice=format_question_choice(item.question, list(options)))


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(int(stable_hash(seed, *parts), 16))


@TRANSFORMS.register("shuffle-answers")
def shuffle_answers(items: Sequence[VQAItem], target_labels: list[str], seed: int) -> list[VQAItem]:
    """Permute the answers among the items of each subset (seeded per subset): label
    frequencies are kept, the image-label link is gone."""
    by_subset: dict[str, list[VQAItem]] = {}
    for it in sorted(items, key=lambda it: it.item_id):
        by_subset.setdefault(it.subset, []).append(it)
    out: dict[str, VQAItem] = {}
    for sid, group in sorted(by_subset.items()):
        answers = [it.answer for it in group]
        _rng(seed, "shuffle-answers", sid).shuffle(answers)
        for it, label in zip(group, answers):
            options = list(it.options)
            if label in options:
                out[it.item_id] = _with_answer(it, options, options.index(label))
            else:  # a label this item did not offer: it takes the place of the true one
                options[it.answer_index] = label
                out[it.item_id] = _with_answer(it, options, it.answer_index)
    return [out[it.item_id] for it in items]


@TRANSFORMS.register("target-vocab")
def target_vocab(items: Sequence[VQAItem], target_labels: list[str], seed: int) -> list[VQAItem]:
    """Options become the target's labels (at most four, in a seeded order per item) and
    the answer a seeded random one of them."""
    if len(target_labels) < 2:
        raise ValueError(f"the target needs at least two labels for a vocabulary control, got {target_labels}")
    out = []
    for it in items:
        rng = _rng(seed, "target-vocab", it.item_id)
        options = rng.sample(list(target_labels), min(len(target_labels), len(LETTERS)))
        out.append(_with_answer(it, options, rng.randrange(len(options))))
    return out


def apply_transform(name: str | None, items: Sequence[VQAItem], target_labels: list[str], seed: int) -> list[VQAItem]:
    """The items an arm trains on: unchanged, or through its named transform."""
    if name is None:
        return list(items)
    return TRANSFORMS.get(name)(items, target_labels, seed)
