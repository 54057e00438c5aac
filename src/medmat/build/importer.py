"""``medmat import-medmat``: released Med-MAT json files -> a VQA store.

The released questions are kept exactly (question text, option order, letters, Med-MAT
``id`` and ``data-no``); nothing is regenerated. Records are read by the ``medmat_json``
source reader (which validates each record) and materialised like any dataset. Each
record's ``data-no`` names its Med-MAT subset (``"2"`` -> ``"02"``) whose triplet comes
from the catalog; ``subset_id`` forces one subset for every record. Released files carry
no train/test split, so ``split='auto'`` applies the build's 9:1 stratified split;
``'train'``/``'test'`` put every record on one side.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from medmat.io import slug
from medmat.progress import Reporter
from medmat.build.config import BuildSettings, DatasetJob
from medmat.build.stage1 import DatasetResult, run_stage1
from medmat.build.stage2 import write_stage2
from medmat.records import LETTERS, LabeledRecord, Skip, VQAItem
from medmat.vqa.aggregate import SubsetBuild
from medmat.vqa.builder import SubsetSpec, item_key
from medmat.vqa.splits import assign_splits, one_sided_labels


def subset_of_data_no(data_no: str) -> str:
    """Med-MAT ``data-no`` ("2", "02") -> catalog subset id ("02")."""
    return f"{int(data_no):02d}" if str(data_no).strip().isdigit() else str(data_no).strip()


def _items_for(spec: SubsetSpec, recs: list[LabeledRecord], splits: dict[str, str]) -> tuple[list[VQAItem], list[Skip]]:
    items, skips = [], []
    for rec in recs:
        m = rec.meta.get("medmat") or {}
        options, letter = list(m.get("options") or []), m.get("answer_choice", "")
        if not options or letter not in LETTERS[: len(options)] or len(options) > len(LETTERS):
            skips.append(Skip(rec.dataset, rec.image, "malformed-record", "options/answer missing after reading"))
            continue
        idx = LETTERS.index(letter)
        answer = options[idx]
        question = m.get("question", "")
        items.append(VQAItem(
            id=int(m.get("id", 0)), caption=m.get("caption", answer), image=rec.image, question=question,
            answer=answer, question_choice=m.get("question_choice", ""), answer_choice=letter,
            data_no=str(m.get("data_no", spec.data_no)), item_id=item_key(spec.id, rec.id, answer),
            triplet=spec.triplet, subset=spec.id, split=splits[rec.id], dataset=rec.dataset, source_record=rec.id,
            options=options, answer_index=idx, labels=sorted(rec.labels), image_hash=str(rec.meta.get("image_hash", "")),
            template=spec.templates.index(question) if question in spec.templates else -1,
        ))
    items.sort(key=lambda it: (it.split, it.item_id))
    return items, skips


def _builder(split: str) -> Callable[..., list[SubsetBuild]]:
    def build(records: dict[str, list[LabeledRecord]], subsets: list[SubsetSpec],
              settings: BuildSettings) -> list[SubsetBuild]:
        out = []
        for spec in sorted(subsets, key=lambda s: s.id):
            res = SubsetBuild(spec)
            recs = [r for ds in sorted(records) for r in records[ds] if r.meta.get("subset") == spec.id]
            splits: dict[str, str] = {}
            for ds in sorted({r.dataset for r in recs}):
                part = [r for r in recs if r.dataset == ds]
                splits.update({r.id: split for r in part} if split != "auto" else assign_splits(part, settings.seed))
            for lab, sides in one_sided_labels(recs, splits).items():
                res.warnings.append(f"label {lab!r} only in {'/'.join(sides)} of subset {spec.id}")
            res.items, res.skips = _items_for(spec, recs, splits)
            out.append(res)
        return out

    return build


def import_medmat(json_files: list[Path], image_root: Path, store_root: Path, catalog: Any,
                  subset_id: str | None = None, split: str = "auto", settings: BuildSettings | None = None,
                  reader: Callable[..., Any] | None = None, materializer: Callable[..., Any] | None = None,
                  reporter: Reporter | None = None) -> tuple[dict[str, Any], dict[str, DatasetResult]]:
    """Import released json files into ``store_root``; returns (summary, per-file results)."""
    if split not in ("auto", "train", "test"):
        raise ValueError(f"split is auto, train or test, got {split!r}")
    if subset_id is not None and subset_id not in catalog.subsets:
        raise ValueError(f"subset {subset_id!r} is not in the catalog")
    settings = settings or BuildSettings()
    if reader is None:
        from medmat.sources import read_dataset as reader
    if materializer is None:
        from medmat.imaging import materialize as materializer
    files = [Path(f).resolve() for f in json_files]
    image_root = Path(image_root).resolve()
    data_root = Path(os.path.commonpath([str(image_root), *(str(f.parent) for f in files)]))
    jobs, used = [], set()
    for f in files:
        ds = f"medmat-json-{slug(f.stem) or 'json'}"
        while ds in used:
            ds += "-x"
        used.add(ds)
        layout = {"type": "medmat_json", "file": f.relative_to(data_root).as_posix(),
                  "image_root": image_root.relative_to(data_root).as_posix() or "."}
        jobs.append(DatasetJob(id=ds, subset=subset_id or "", layout=layout))
    store_root = Path(store_root)
    store_root.mkdir(parents=True, exist_ok=True)
    results: dict[str, DatasetResult] = {}
    by_subset: dict[str, dict[str, Any]] = {}
    for job in jobs:
        res = run_stage1(job, data_root, store_root, settings, reader, materializer, reporter)
        kept: list[LabeledRecord] = []
        skips = list(res.skips)
        for r in res.records:
            sid = subset_id or subset_of_data_no((r.meta.get("medmat") or {}).get("data_no", ""))
            if sid not in catalog.subsets:
                skips.append(Skip(job.id, r.image, "unknown-subset", f"data-no {sid!r} is no catalog subset"))
                continue
            kept.append(LabeledRecord(r.id, r.dataset, r.image, r.labels, r.split, r.group, {**r.meta, "subset": sid}))
            acc = by_subset.setdefault(sid, {"datasets": set(), "labels": set(), "questions": set()})
            acc["datasets"].add(job.id)
            acc["labels"].update(r.meta["medmat"]["options"])
            acc["questions"].add(r.meta["medmat"]["question"])
        reasons: dict[str, int] = {}
        for s in skips:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        results[job.id] = replace(res, records=kept, skips=skips, skipped_by_reason=reasons)
    subsets = []
    for sid, acc in sorted(by_subset.items()):
        sub = catalog.subsets[sid]
        try:
            templates = list(catalog.templates(sid)) or sorted(acc["questions"])
        except (KeyError, ValueError):
            templates = sorted(acc["questions"])
        subsets.append(SubsetSpec(id=sid, triplet=str(sub.triplet), labels=sorted(acc["labels"]),
                                  templates=templates, multi_label=bool(sub.multi_label),
                                  datasets=sorted(acc["datasets"])))
    summary = write_stage2(store_root, subsets, results, settings, builder=_builder(split),
                           extra_meta={"imported": {"source": "medmat-json", "split": split}})
    return summary, results
