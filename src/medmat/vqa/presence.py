"""Classification-style questions from box annotations: ``presence`` and ``count``.

So one detection dataset can also feed a classification-style subset, these builders ask
about the *findings* of a subset (its labels that have a box in some record) without
asking where they are:

* ``presence``: "Is there a {finding} in this image?", options ``yes`` / ``no``;
* ``count``: "How many {finding} regions ...?", options the true number of boxes and the
  three nearest other counts (0 included), in increasing order around the true one.

Per image they ask about every finding it shows (a box, or the label on the record) and
as many absent findings as it shows (at least one), drawn with the seed, where the subset
has that many; the training cap balances the answers (``cap_balanced``). ``count`` skips a finding the record labels without boxes (``no-count``). The
items are ordinary single-choice items (``kind`` choice): letters are balanced per
(split, number of options) as the choice builder does, and they serialise exactly like
classification items. Templates are the builders' own (``questions.yaml``).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Callable, Iterable

from medmat.records import LETTERS, LabeledRecord, Skip, VQAItem, format_question_choice
from medmat.vqa.builder import SubsetSpec, item_key
from medmat.vqa.forms import builder_templates, draw, fill, ordered, positions

YES, NO = "yes", "no"

# (true answer text, distractor answer texts) of one finding of one record, or a skip reason
Answerer = Callable[[str, bool, int | None], "tuple[str, list[str]] | str"]


def box_findings(records: list[LabeledRecord], spec: SubsetSpec) -> list[str]:
    """Labels with a box in some record: the subset's label order, then any others sorted."""
    seen = {b[0] for r in records for b in r.boxes}
    return [lab for lab in spec.labels if lab in seen] + sorted(seen - set(spec.labels))


def _presence(finding: str, present: bool, count: int | None) -> tuple[str, list[str]]:
    return (YES, [NO]) if present else (NO, [YES])


def _count(finding: str, present: bool, count: int | None) -> tuple[str, list[str]] | str:
    if count is None:
        return "no-count"
    others = sorted((c for c in range(max(0, count - 3), count + 4) if c != count), key=lambda c: (abs(c - count), c))
    return str(count), [str(c) for c in sorted(others[:3])]


def _asked(rec: LabeledRecord, findings: list[str], seed: int, subset: str) -> tuple[list[str], set[str], Counter]:
    counts = Counter(b[0] for b in rec.boxes)
    present = {f for f in findings if counts[f] or f in rec.labels}
    absent = [f for f in findings if f not in present]
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}\x1f{subset}\x1f{rec.id}".encode()).digest()[:8], "big"))
    k = min(len(absent), max(1, len(present)))
    asked = [f for f in findings if f in present] + sorted(rng.sample(absent, k), key=findings.index)
    return asked, present, counts


def _build(answerer: Answerer, form: str, records: Iterable[LabeledRecord], spec: SubsetSpec,
           splits: dict[str, str], seed: int) -> tuple[list[VQAItem], list[Skip]]:
    records = list(records)
    templates = list(builder_templates()[form])
    findings = box_findings(records, spec)
    skips: list[Skip] = []
    drafts = []
    for rec in records:
        split = splits.get(rec.id)
        if split is None:
            skips.append(Skip(rec.dataset, rec.image, "no-split", f"record {rec.id} has no split assigned"))
            continue
        if not findings:
            skips.append(Skip(rec.dataset, rec.image, "no-box-finding",
                              f"subset {spec.id} has no label with a box to ask about"))
            continue
        asked, present, counts = _asked(rec, findings, seed, spec.id)
        for f in asked:
            got = answerer(f, f in present, counts[f] if (counts[f] or f not in present) else None)
            if isinstance(got, str):
                skips.append(Skip(rec.dataset, rec.image, got, f"record {rec.id}: {f!r} is labelled without boxes"))
                continue
            iid = item_key(spec.id, rec.id, f)
            tpl, _ = draw(seed, iid, len(templates))
            drafts.append(dict(rec=rec, split=split, finding=f, item_id=iid, tpl=tpl, true=got[0], others=got[1]))
    drafts = ordered(drafts)
    items = []
    pos_of = positions(spec.id, seed, [(d["split"], len(d["others"]) + 1) for d in drafts])
    for number, (d, pos) in enumerate(zip(drafts, pos_of), 1):
        rec = d["rec"]
        options = d["others"][:pos] + [d["true"]] + d["others"][pos:]
        question = fill(templates[d["tpl"]], d["finding"])
        items.append(VQAItem(
            id=number, caption=d["true"], image=rec.image, question=question, answer=d["true"],
            question_choice=format_question_choice(question, options), answer_choice=LETTERS[pos],
            data_no=spec.data_no, item_id=d["item_id"], triplet=spec.triplet, subset=spec.id, split=d["split"],
            dataset=rec.dataset, source_record=rec.id, options=options, answer_index=pos, labels=sorted(rec.labels),
            image_hash=str(rec.meta.get("image_hash", "")), template=d["tpl"]))
    return items, skips


def build_presence(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], seed: int = 0
                   ) -> tuple[list[VQAItem], list[Skip]]:
    """``presence`` questions of one subset (module docstring)."""
    return _build(_presence, "presence", records, spec, splits, seed)


def build_count(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], seed: int = 0
                ) -> tuple[list[VQAItem], list[Skip]]:
    """``count`` questions of one subset (module docstring)."""
    return _build(_count, "count", records, spec, splits, seed)
