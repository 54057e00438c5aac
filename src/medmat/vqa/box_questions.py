"""Box questions from localisation records: ``box-choice`` and ``grounding``.

* ``box-choice`` (the default of detection and segmentation subsets; comparable with the
  classification protocol): "Which box contains the {finding}?" with up to 4 box options
  in medmat's text form ``[x1, y1, x2, y2]`` (0-1000), the answer a letter. One question
  per (image, labelled finding); the true option is the finding's largest box, the
  distractors are boxes of the same size that overlap no true box of the image
  (``medmat.vqa.localise``). Letters are balanced per (split, number of options).
* ``grounding``: the same question answered with the box itself (``answer`` = the box
  text; ``question_choice`` = the question + the ``plain`` syntax's instruction). Where a
  finding has several boxes the question asks for the "largest {finding}", and skips the
  image when no box is clearly the largest (``ambiguous-box``).

Both fill ``kind``, ``answer_box`` (0-1) and ``image_size``; ``box-choice`` also
``option_boxes``. Every record or finding that gives no question is a Skip with its
reason: ``no-split``, ``no-box`` (an image without findings), ``no-image-size``,
``unknown-label``, ``degenerate-box`` (under 1/1000 of the image wide or high),
``no-distractor``, ``ambiguous-box``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from medmat.boxes import BOX_SYNTAXES, IntBox, box_text, unit
from medmat.records import LETTERS, LabeledRecord, Skip, VQAItem, format_question_choice
from medmat.vqa.builder import SubsetSpec, item_key
from medmat.vqa.forms import draw, fill, locate_templates, ordered, positions
from medmat.vqa.localise import ambiguous, degenerate, int_boxes, place_distractors, record_size

GROUNDING_SYNTAX = "plain"
"""The box syntax a grounding item's own prompt asks for (exports render others per family)."""


def _findings(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], skips: list[Skip]
              ) -> Iterator[tuple[LabeledRecord, str, tuple[int, int], dict[str, list[IntBox]]]]:
    """(record, split, image size, label -> boxes) of every record a box question can use."""
    known = set(spec.labels)
    for rec in records:
        split = splits.get(rec.id)
        if split is None:
            skips.append(Skip(rec.dataset, rec.image, "no-split", f"record {rec.id} has no split assigned"))
            continue
        if not rec.boxes:
            skips.append(Skip(rec.dataset, rec.image, "no-box", f"record {rec.id} has no box to ask about "
                              f"(labels {list(rec.labels)})"))
            continue
        size = record_size(rec)
        if size is None:
            skips.append(Skip(rec.dataset, rec.image, "no-image-size",
                              f"record {rec.id} has no stored image size (meta width/height)"))
            continue
        boxes = int_boxes(rec, size)
        unknown = sorted(lab for lab in boxes if lab not in known)
        if unknown:
            skips.append(Skip(rec.dataset, rec.image, "unknown-label",
                              f"box labels {unknown} not in subset {spec.id} labels {spec.labels}"))
            continue
        yield rec, split, size, boxes


def _targets(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], skips: list[Skip]
             ) -> Iterator[tuple[LabeledRecord, str, tuple[int, int], dict[str, list[IntBox]], str]]:
    """:func:`_findings` per finding label (sorted), less findings whose largest box is degenerate."""
    for rec, split, size, boxes in _findings(records, spec, splits, skips):
        for label in sorted(boxes):
            if degenerate(boxes[label][0]):
                skips.append(Skip(rec.dataset, rec.image, "degenerate-box",
                                  f"record {rec.id}: the {label!r} box is under 1/1000 of the image wide or high"))
                continue
            yield rec, split, size, boxes, label


def _common(d: dict[str, Any], spec: SubsetSpec, number: int) -> dict[str, Any]:
    rec: LabeledRecord = d["rec"]
    return dict(id=number, caption=d["label"], image=rec.image, data_no=spec.data_no, item_id=d["item_id"],
                triplet=spec.triplet, subset=spec.id, split=d["split"], dataset=rec.dataset, source_record=rec.id,
                labels=sorted(rec.labels), image_hash=str(rec.meta.get("image_hash", "")), template=d["tpl"],
                answer_box=list(unit(d["target"])), image_size=list(d["size"]))


def build_box_choice(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], seed: int = 0
                     ) -> tuple[list[VQAItem], list[Skip]]:
    """``box-choice`` questions of one subset (module docstring); items in (split, item_id) order."""
    templates = locate_templates(spec)
    skips: list[Skip] = []
    drafts: list[dict[str, Any]] = []
    for rec, split, size, boxes, label in _targets(records, spec, splits, skips):
        target = boxes[label][0]
        iid = item_key(spec.id, rec.id, label)
        tpl, rng = draw(seed, iid, len(templates))
        distractors = place_distractors(target, [b for bs in boxes.values() for b in bs], rng)
        if not distractors:
            skips.append(Skip(rec.dataset, rec.image, "no-distractor",
                              f"record {rec.id}: no box the size of the {label!r} box fits beside the true boxes"))
            continue
        drafts.append(dict(rec=rec, split=split, size=size, label=label, item_id=iid, tpl=tpl, target=target,
                           distractors=distractors))
    drafts = ordered(drafts)
    items = []
    pos_of = positions(spec.id, seed, [(d["split"], len(d["distractors"]) + 1) for d in drafts])
    for number, (d, pos) in enumerate(zip(drafts, pos_of), 1):
        boxes_ = d["distractors"][:pos] + [d["target"]] + d["distractors"][pos:]
        options = [box_text(b) for b in boxes_]
        question = fill(templates[d["tpl"]], d["label"])
        items.append(VQAItem(
            question=question, answer=options[pos], question_choice=format_question_choice(question, options),
            answer_choice=LETTERS[pos], options=options, answer_index=pos, kind="box-choice",
            option_boxes=[list(unit(b)) for b in boxes_], **_common(d, spec, number)))
    return items, skips


def grounding_prompt(question: str, syntax: str = GROUNDING_SYNTAX) -> str:
    """A grounding question as a model is asked it: the question, then how to write the box."""
    return f"{question}\n{BOX_SYNTAXES.get(syntax).instruction}"


def build_grounding(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], seed: int = 0
                    ) -> tuple[list[VQAItem], list[Skip]]:
    """``grounding`` questions of one subset (module docstring); items in (split, item_id) order."""
    templates = locate_templates(spec)
    skips: list[Skip] = []
    drafts: list[dict[str, Any]] = []
    for rec, split, size, boxes, label in _targets(records, spec, splits, skips):
        if ambiguous(boxes[label]):
            skips.append(Skip(rec.dataset, rec.image, "ambiguous-box",
                              f"record {rec.id}: {len(boxes[label])} {label!r} boxes and none clearly the largest"))
            continue
        iid = item_key(spec.id, rec.id, label)
        tpl, _ = draw(seed, iid, len(templates))
        phrase = label if len(boxes[label]) == 1 else f"largest {label}"
        drafts.append(dict(rec=rec, split=split, size=size, label=label, item_id=iid, tpl=tpl,
                           target=boxes[label][0], phrase=phrase))
    items = []
    for number, d in enumerate(ordered(drafts), 1):
        question = fill(templates[d["tpl"]], d["phrase"])
        answer = box_text(d["target"])
        items.append(VQAItem(
            question=question, answer=answer, question_choice=grounding_prompt(question), answer_choice=answer,
            options=[], answer_index=0, kind="grounding", **_common(d, spec, number)))
    return items, skips
