"""lmms-eval hooks of medmat's tasks; ``medmat export --format lmms-eval`` writes this file as
the task folder's ``utils.py`` (plus one ``docs_<subset>`` filter per subset task at the end).

It needs only what lmms-eval has (``datasets`` and PIL), not medmat. The model sees the
Med-MAT prompt (``question_choice``: question, ``A: ...`` options, "Answer with the
option's letter from the given choices directly.") and is scored by the letter it answers.
"""

from __future__ import annotations

import re
from typing import Any

LETTERS = "ABCD"


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, str] | None = None) -> str:
    kw = lmms_eval_specific_kwargs or {}
    return f"{kw.get('pre_prompt', '')}{doc['question_choice']}{kw.get('post_prompt', '')}"


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["answer_choice"]


def extract_letter(text: str, options: list[str]) -> str | None:
    """The option letter a free-text answer picks, or None when it names none or several.

    Tried in order: a leading letter ("B", "(B)", "B.", "B: label"), a stated answer
    ("the answer is B", "Answer: (C)"), then the one option whose text the answer
    names as whole words. Only letters of the question's own options count.
    """
    letters = LETTERS[:len(options)]
    if not letters:
        return None
    t = text.strip()
    m = re.match(rf"[(\[]?([{letters}])(?:[)\].:,]|\s|$)", t)
    if m:
        return m.group(1)
    found = set(re.findall(rf"(?i:\banswer(?: is)?)\s*[:\-]?\s*[(\[]?([{letters}])\b", t))
    if len(found) == 1:
        return found.pop()
    named = [letters[i] for i, opt in enumerate(options)
             if opt.strip() and re.search(rf"(?<!\w){re.escape(opt.strip())}(?!\w)", t, flags=re.IGNORECASE)]
    return named[0] if len(named) == 1 else None


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    pred = extract_letter(results[0] if results else "", list(doc["options"]))
    return {"accuracy": float(pred == doc["answer_choice"]), "invalid": float(pred is None)}


def only_subset(dataset: Any, subset: str) -> Any:
    """The rows of one subset (reads only the ``subset`` column, images stay encoded)."""
    return dataset.filter(lambda s: s == subset, input_columns="subset")
