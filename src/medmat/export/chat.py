"""JSON/JSONL formats: TRL, LLaVA, ShareGPT (LLaMA-Factory), ms-swift and released Med-MAT json.

Grounding items (free-text box answers) go through ``medmat.export.grounding``: the
model family's box syntax with ``--family``, ms-swift's grounding fields for swift.
"""

from __future__ import annotations

import json

from medmat.export.base import EXPORTERS, ExportContext
from medmat.export.grounding import prompt_and_answer, swift_grounding_row
from medmat.io import write_json, write_jsonl, write_text
from medmat.records import VQAItem

IMAGE_TOKEN = "<image>"


def _trl_row(ctx: ExportContext, it: VQAItem) -> dict:
    prompt, answer = prompt_and_answer(ctx, it)
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
    assistant = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
    row = {"images": [ctx.image_ref(it)], "item_id": it.item_id, "subset": it.subset}
    if ctx.options.trl_style == "prompt-completion":
        row.update(prompt=[user], completion=[assistant])
    else:
        row["messages"] = [user, assistant]
    return row


@EXPORTERS.register("trl")
def export_trl(ctx: ExportContext) -> None:
    """TRL vision SFT: ``messages`` (or ``prompt``/``completion``) + ``images``, one JSONL per split.

    Content parts are lists of typed parts in every message (``{"type": "image"}`` then the
    text), so ``datasets.load_dataset("json")`` infers one schema for all rows.
    """
    if ctx.options.trl_style not in ("messages", "prompt-completion"):
        raise ValueError(f"trl style is 'messages' or 'prompt-completion', got {ctx.options.trl_style!r}")
    for split, items in ctx.selected().items():
        path = ctx.out_dir / f"{split}.jsonl"
        write_jsonl(path, (_trl_row(ctx, it) for it in items))
        ctx.add(path)
    where = f"cd {ctx.out_dir.resolve()} first (relative image paths) and " if ctx.options.copy_images else ""
    ctx.note(f"{where}load with datasets.load_dataset('json', data_files=...), then "
             ".cast_column('images', datasets.List(datasets.Image())) for PIL images (docs/exports.md)")


@EXPORTERS.register("llava")
def export_llava(ctx: ExportContext) -> None:
    """LLaVA instruction json: a list of {id, image, conversations} per split.

    Train LLaVA with ``--data_path OUT/<split>.json --image_folder OUT`` (copied images)
    or any folder (absolute paths).
    """
    for split, items in ctx.selected().items():
        rows = [{
            "id": it.item_id, "image": ctx.image_ref(it),
            "conversations": [{"from": "human", "value": f"{IMAGE_TOKEN}\n{q}"}, {"from": "gpt", "value": a}],
        } for it in items for q, a in [prompt_and_answer(ctx, it)]]
        path = ctx.out_dir / f"{split}.json"
        write_json(path, rows)
        ctx.add(path)
    out = ctx.out_dir.resolve()
    split = "train" if "train" in ctx.selected() else next(iter(ctx.selected()))
    ctx.note(f"LLaVA train.py: --data_path {out}/{split}.json --image_folder {out}   "
             "(--image_folder is needed even with absolute paths)")


@EXPORTERS.register("sharegpt")
def export_sharegpt(ctx: ExportContext) -> None:
    """LLaMA-Factory ShareGPT (OpenAI-style role tags) + ``dataset_info.json``.

    Use ``dataset_dir: OUT`` and ``dataset: medmat_train`` in the LLaMA-Factory config.
    """
    info = {}
    base = ctx.options.name or "medmat"
    for split, items in ctx.selected().items():
        name = f"{base}_{split}"
        rows = [{
            "messages": [{"role": "user", "content": IMAGE_TOKEN + q}, {"role": "assistant", "content": a}],
            "images": [ctx.image_ref(it)],
        } for it in items for q, a in [prompt_and_answer(ctx, it)]]
        path = ctx.out_dir / f"{name}.json"
        write_json(path, rows)
        ctx.add(path)
        info[name] = {
            "file_name": path.name, "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"},
        }
    path = ctx.out_dir / "dataset_info.json"
    write_json(path, info)
    ctx.add(path)
    ctx.note(f"LLaMA-Factory YAML: dataset_dir: {ctx.out_dir.resolve()}  dataset: {', '.join(info)}   "
             "(this dataset_info.json then stands in for the stock one; docs/exports.md shows how to merge)")


@EXPORTERS.register("swift")
def export_swift(ctx: ExportContext) -> None:
    """ms-swift custom dataset JSONL: ``messages`` with ``<image>`` in the user turn + ``images``;
    grounding items in ms-swift's grounding form (``<bbox>`` + ``objects``), which it renders
    in each model's own box syntax."""
    for split, items in ctx.selected().items():
        path = ctx.out_dir / f"{split}.jsonl"
        write_jsonl(path, (swift_grounding_row(ctx, it) if it.kind == "grounding" else {
            "messages": [{"role": "user", "content": IMAGE_TOKEN + it.question_choice},
                         {"role": "assistant", "content": it.answer_choice}],
            "images": [ctx.image_ref(it)],
        } for it in items))
        ctx.add(path)
    out = ctx.out_dir.resolve()
    env = f"ROOT_IMAGE_DIR={out} " if ctx.options.copy_images else ""
    flags = {"train": "--dataset", "test": "--val_dataset"}
    data = " ".join(f"{flags[s]} {out}/{s}.jsonl" for s in ctx.selected() if s in flags)
    ctx.note(f"{env}swift sft --model MODEL {data} ...")


@EXPORTERS.register("medmat")
def export_medmat(ctx: ExportContext) -> None:
    """The released Med-MAT json schema (``VQAItem.to_medmat``), one list per subset and split.

    Files ``<subset>_<split>.json``; ``medmat import-medmat FILE --image-root OUT`` reads
    them back (with ``--copy-images``) with the same questions and letters.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for split, items in ctx.selected().items():
        for it in items:
            groups.setdefault((it.subset, split), []).append({**it.to_medmat(), "image": ctx.image_ref(it)})
    for (subset, split), rows in sorted(groups.items()):
        path = ctx.out_dir / f"{subset}_{split}.json"
        # the released key order, not sorted keys (write_json sorts)
        write_text(path, json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        ctx.add(path)
