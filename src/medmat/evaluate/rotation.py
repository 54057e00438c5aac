"""Circular evaluation: the same question with its options rotated through every position.

A model that always answers "A" (or prefers one position) scores 1/n on plain questions
but cannot answer every rotation of a question right. Counting a question only when all
its rotations are right removes position bias from the score (MMBench's CircularEval).
"""

from __future__ import annotations

import dataclasses

from medmat.records import LETTERS, VQAItem, format_question_choice


def rotate_item(item: VQAItem, k: int) -> VQAItem:
    """``item`` with its options rotated left by ``k``: option k becomes option A.

    The question text is rebuilt with ``format_question_choice`` and ``answer_index`` /
    ``answer_choice`` follow the correct option. Rotation 0 returns the item unchanged
    (its own ``question_choice`` is kept even if it was imported with other wording).
    """
    n = item.n_options
    if n < 1:
        raise ValueError(f"item {item.item_id}: no options to rotate")
    if not 0 <= item.answer_index < n:
        raise ValueError(f"item {item.item_id}: answer_index {item.answer_index} outside its {n} options")
    k %= n
    if k == 0:
        return item
    options = list(item.options[k:]) + list(item.options[:k])
    boxes = list(item.option_boxes[k:]) + list(item.option_boxes[:k])  # box-choice: boxes follow their texts
    idx = (item.answer_index - k) % n
    return dataclasses.replace(
        item, options=options, answer_index=idx, answer_choice=LETTERS[idx], option_boxes=boxes,
        question_choice=format_question_choice(item.question, options),
    )


def rotations(item: VQAItem, circular: bool) -> list[tuple[int, VQAItem]]:
    """(rotation, item) pairs to evaluate: just rotation 0, or all n_options rotations.
    An item without options (grounding) has only rotation 0."""
    if not item.options:
        return [(0, item)]
    ks = range(item.n_options) if circular else range(1)
    return [(k, rotate_item(item, k)) for k in ks]
