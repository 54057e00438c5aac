"""VLMEvalKit multiple-choice TSV (the layout of its MMBench-style ``ImageMCQDataset``).

Columns: index, image (base64 of the stored bytes), question (the instruction without
options: VLMEvalKit appends the lettered options itself), A-D (empty cells where a
question has fewer options), answer (letter), category (subset), l2-category (triplet),
plus item_id for joining predictions back. Point VLMEvalKit at the file as a custom MCQ
dataset (file name without ``.tsv`` as its name).
"""

from __future__ import annotations

import base64
import csv

from medmat.export.base import EXPORTERS, ExportContext
from medmat.io import atomic_open
from medmat.records import LETTERS

HEADER = ["index", "image", "question", *LETTERS, "answer", "category", "l2-category", "item_id"]


@EXPORTERS.register("vlmevalkit")
def export_vlmevalkit(ctx: ExportContext) -> None:
    for split, items in ctx.selected().items():
        path = ctx.out_dir / f"medmat_{split}.tsv"
        with atomic_open(path, "w") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            w.writerow(HEADER)
            for i, it in enumerate(items):
                opts = list(it.options) + [""] * (len(LETTERS) - len(it.options))
                w.writerow([i, base64.b64encode(ctx.image_bytes(it)).decode("ascii"), it.question, *opts,
                            it.answer_choice, it.subset, it.triplet, it.item_id])
        ctx.add(path)
