"""VLMEvalKit multiple-choice TSV (what its ``CustomMCQDataset`` reads) + a launcher script.

VLMEvalKit finds a custom dataset only as ``$LMUData/<name>.tsv`` (``LMUData`` defaults to
``~/LMUData``) and caches its decoded images in ``$LMUData/images/<name>/``, never
rewriting a file that is already there. So every TSV gets a name of its own:
``<name>_<split>`` with ``--name``, else ``medmat_<split>_<hash>`` where the hash covers the
TSV's rows, so two different exports never share an image cache (the same export always
gets the same name, and reusing its cache is right). Each row also names its image file
by the image's content hash (``image_path``), which VLMEvalKit versions that honour the
column use as the cached file's name. With ``--name``, a TSV that would replace a
different one whose images are cached already is refused.

Columns: index, image (base64 of the stored bytes), image_path, question (the instruction
without options: VLMEvalKit appends the lettered options itself), A-D (empty cells where a
question has fewer options), answer (letter), category (subset), l2-category (triplet),
split, medmat_prompt (the Med-MAT prompt, used by ``medmat_vlmevalkit.py``), item_id
(to join predictions back).
"""

from __future__ import annotations

import base64
import csv
import filecmp
import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import IO

from medmat.export.base import EXPORTERS, ExportContext
from medmat.export.vlmevalkit_launcher import PROMPT_COLUMN
from medmat.io import atomic_open, write_text
from medmat.records import LETTERS, VQAItem

HEADER = ["index", "image", "image_path", "question", *LETTERS, "answer", "category", "l2-category", "split",
          PROMPT_COLUMN, "item_id"]
LAUNCHER = "medmat_vlmevalkit.py"


class _Hashing:
    """A text sink that hashes what passes through it."""

    def __init__(self, fh: IO[str]):
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, s: str) -> int:
        self.sha.update(s.encode("utf-8"))
        return self.fh.write(s)


def _row(ctx: ExportContext, i: int, it: VQAItem) -> list:
    opts = list(it.options) + [""] * (len(LETTERS) - len(it.options))
    return [i, base64.b64encode(ctx.image_bytes(it)).decode("ascii"), PurePosixPath(it.image).name, it.question,
            *opts, it.answer_choice, it.subset, it.triplet, it.split, it.question_choice, it.item_id]


def _write_tsv(ctx: ExportContext, split: str, items: list[VQAItem]) -> Path:
    tmp = ctx.out_dir / f".medmat_{split}.tsv.partial"
    with atomic_open(tmp, "w") as fh:
        sink = _Hashing(fh)
        w = csv.writer(sink, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(HEADER)
        for i, it in enumerate(items):
            w.writerow(_row(ctx, i, it))
    name = f"{ctx.options.name}_{split}" if ctx.options.name else f"medmat_{split}_{sink.sha.hexdigest()[:12]}"
    path = ctx.out_dir / f"{name}.tsv"
    cache = ctx.out_dir / "images" / name
    if path.is_file() and cache.is_dir() and not filecmp.cmp(tmp, path, shallow=False):
        tmp.unlink()
        raise ValueError(f"{path} holds a different dataset whose images VLMEvalKit cached in {cache}; they "
                         f"would be reused for the new one. Choose another --name, or delete both first")
    os.replace(tmp, path)
    return path


def _is_lmu_root(out: Path) -> bool:
    root = os.environ.get("LMUData") or str(Path.home() / "LMUData")
    return Path(root).resolve() == out.resolve()


@EXPORTERS.register("vlmevalkit")
def export_vlmevalkit(ctx: ExportContext) -> None:
    ctx.only_with_options("vlmevalkit")  # grounding items have no options to put in A-D
    names = []
    for split, items in ctx.selected().items():
        path = _write_tsv(ctx, split, items)
        ctx.add(path)
        names.append(path.stem)
    launcher = ctx.out_dir / LAUNCHER
    write_text(launcher, Path(__file__).with_name("vlmevalkit_launcher.py").read_text(encoding="utf-8"))
    ctx.add(launcher)
    out = ctx.out_dir.resolve()
    if not _is_lmu_root(out):
        ctx.note("VLMEvalKit reads $LMUData/<name>.tsv (LMUData defaults to ~/LMUData); copy the TSVs there:")
        ctx.note(f"cp {' '.join(str(out / f'{n}.tsv') for n in names)} \"${{LMUData:-$HOME/LMUData}}/\"")
    data = " ".join(names)
    ctx.note(f"python run.py --data {data} --model MODEL   # in VLMEvalKit, its own prompt wording")
    ctx.note(f"python {out / LAUNCHER} PATH/TO/VLMEvalKit/run.py --data {data} --model MODEL   # Med-MAT prompt")
