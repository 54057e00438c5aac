"""Localisation items in exports (docs/localisation.md, "Questions, evaluation and exports").

* ``box-choice`` items are ordinary single-choice questions (options are box texts, the
  answer a letter) and leave every format exactly as a classification item does.
* ``grounding`` items ask for a box. The chat formats (trl, llava, sharegpt) write the
  prompt and the answer in a model family's box syntax when ``--family`` names one
  (``Family.box_syntax``: Qwen2-VL box tokens, Qwen2.5-VL pixel JSON), else medmat's own
  (the item's ``question_choice`` / ``answer_choice``: ``[x1, y1, x2, y2]``, 0-1000). ms-swift
  gets its documented grounding fields instead (:func:`swift_grounding_row`) and renders
  each model's syntax itself. Multiple-choice-only formats (vlmevalkit, lmms-eval) leave
  grounding items out and say so (``ExportContext.only_with_options``).
"""

from __future__ import annotations

from medmat.boxes import BOX_SYNTAXES, answer_frame, frame_values, render_box
from medmat.export.base import ExportContext
from medmat.records import VQAItem

IMAGE_TOKEN = "<image>"


def _family_box(ctx: ExportContext) -> tuple[str, tuple[int, int, int] | None]:
    from medmat.models.hf.families import FAMILIES

    fam = FAMILIES.get(ctx.options.family)  # type: ignore[arg-type]
    resize = fam.box_resize
    if resize is not None and ctx.options.max_pixels is not None:
        resize = (resize[0], min(resize[1], ctx.options.max_pixels), ctx.options.max_pixels)
    return fam.box_syntax, resize


def prompt_and_answer(ctx: ExportContext, item: VQAItem) -> tuple[str, str]:
    """The user text and the assistant text of ``item`` in this export."""
    if item.kind != "grounding" or not ctx.options.family:
        return item.question_choice, item.answer_choice
    syntax, resize = _family_box(ctx)
    if item.answer_box is None:
        raise ValueError(f"grounding item {item.item_id} has no answer_box")
    frame = answer_frame(item.image_size, resize)
    if BOX_SYNTAXES.get(syntax).convention == "pixels" and frame is None:
        raise ValueError(f"grounding item {item.item_id} has no image_size: pixel boxes ({syntax}) need it")
    return (f"{item.question}\n{BOX_SYNTAXES.get(syntax).instruction}",
            render_box(syntax, item.answer_box, item.caption, frame))


def swift_grounding_row(ctx: ExportContext, item: VQAItem) -> dict:
    """ms-swift's grounding form: ``<bbox>`` in the answer and an ``objects`` field whose
    ``bbox`` is in pixels of the image (``bbox_type: real``); ms-swift writes it in the
    trained model's own syntax and coordinate frame."""
    if item.answer_box is None or item.image_size is None:
        raise ValueError(f"grounding item {item.item_id} needs answer_box and image_size")
    w, h = item.image_size
    bbox = [int(v) for v in frame_values(item.answer_box, "pixels", (int(w), int(h)))]
    return {
        "messages": [{"role": "user", "content": IMAGE_TOKEN + item.question},
                     {"role": "assistant", "content": "<bbox>"}],
        "images": [ctx.image_ref(item)],
        "objects": {"ref": [], "bbox": [bbox], "bbox_type": "real"},
    }
