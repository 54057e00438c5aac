"""Stage 1: read one dataset and materialise its images into the store (resumable).

Output per dataset, under ``STORE/records/``:
  ``<id>.jsonl``        the LabeledRecords, images relative to the store
  ``<id>.skips.jsonl``  every Skip of the reader and of materialisation
  ``<id>.stage.json``   the inputs fingerprint and counts, written last

A dataset is skipped on the next run when its stage file holds the same fingerprint
(layout, labels, aliases, stage-1 settings, and every input file's path, size and mtime)
and none of its skips is transient (a file stopped by the time limit or whose worker
died: ``TRANSIENT_REASONS``), which a re-run tries again. Each file is written
atomically and the stage file last, so an interrupted run leaves either a complete
previous result or one that does not match and is rebuilt; images already materialised
are reused through the materialiser's cache, so a rebuild costs little.

The per-file limits of the settings (``BuildSettings.file_limits()``) reach the reader
and the materialiser as ``limits=``; stand-ins without that parameter (tests) are called
as before.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medmat.progress import Reporter
from medmat.io import dumps, read_json, read_jsonl, write_json, write_jsonl
from medmat.build.config import BuildSettings, DatasetJob
from medmat.records import LabeledRecord, Skip

STAGE1_VERSION = 1
# Skips that say more about this run than about the file: a re-run tries the file again.
TRANSIENT_REASONS = frozenset({"time-limit", "worker-crashed"})


@dataclass
class DatasetResult:
    id: str
    records: list[LabeledRecord]
    skips: list[Skip]
    read: int
    reused: bool = False
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    released: int | None = None  # records written, once they were dropped from memory (``release``)

    @property
    def written(self) -> int:
        return len(self.records) if self.released is None else self.released

    def release(self) -> "DatasetResult":
        """Drop the records (they are on disk, where stage 2 reads them), keep the counts: a
        build of many datasets then holds one dataset's records at a time, not all of them."""
        if self.released is None:
            self.released, self.records = len(self.records), []
        return self

    def summary(self) -> dict[str, Any]:
        return {"read": self.read, "written": self.written, "skipped": len(self.skips),
                "skipped_by_reason": dict(sorted(self.skipped_by_reason.items()))}


def _layout_dict(layout: Any) -> Any:
    return layout.model_dump(mode="json") if hasattr(layout, "model_dump") else layout


def _input_paths(layout: Any, data_root: Path) -> list[Path]:
    out = []
    for attr in ("root", "file", "image_root"):
        value = layout.get(attr) if isinstance(layout, dict) else getattr(layout, attr, None)
        if value:
            out.append(data_root / value)
    return out


def _file_listing(paths: list[Path], data_root: Path) -> list[tuple[str, int, int]]:
    seen: dict[str, tuple[str, int, int]] = {}
    for p in paths:
        if p.is_file():
            st = p.stat()
            seen[str(p)] = (p.relative_to(data_root).as_posix() if p.is_relative_to(data_root) else str(p),
                            st.st_size, st.st_mtime_ns)
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames.sort()
            for name in sorted(filenames):
                f = Path(dirpath) / name
                st = f.stat()
                rel = f.relative_to(data_root).as_posix() if f.is_relative_to(data_root) else str(f)
                seen[str(f)] = (rel, st.st_size, st.st_mtime_ns)
    return sorted(seen.values())


def fingerprint(job: DatasetJob, data_root: Path, settings: BuildSettings) -> str:
    """sha256 over everything that determines this dataset's stage-1 output."""
    h = hashlib.sha256()
    h.update(dumps({
        "v": STAGE1_VERSION, "id": job.id, "layout": _layout_dict(job.layout), "labels": job.labels,
        "aliases": job.label_aliases, "settings": settings.stage1_key(),
    }).encode())
    for row in _file_listing(_input_paths(job.layout, data_root), data_root):
        h.update(dumps(row).encode())
    return h.hexdigest()


def paths_for(store_root: Path, dataset_id: str) -> tuple[Path, Path, Path]:
    base = store_root / "records"
    return base / f"{dataset_id}.jsonl", base / f"{dataset_id}.skips.jsonl", base / f"{dataset_id}.stage.json"


def load_stage1(store_root: Path, dataset_id: str) -> DatasetResult:
    rec_p, skip_p, stage_p = paths_for(store_root, dataset_id)
    stage = read_json(stage_p)
    return DatasetResult(
        dataset_id, [LabeledRecord.from_dict(d) for d in read_jsonl(rec_p)],
        [Skip(**d) for d in read_jsonl(skip_p)], stage["read"], reused=True,
        skipped_by_reason=stage.get("skipped_by_reason", {}),
    )


def _takes_limits(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "limits" for p in params)  # named: a **kwargs wrapper may forward to one without


def _with_limits(fn: Callable[..., Any], settings: BuildSettings) -> dict[str, Any]:
    return {"limits": settings.file_limits()} if _takes_limits(fn) else {}


def _reusable(store_root: Path, dataset_id: str, fp: str) -> DatasetResult | None:
    rec_p, skip_p, stage_p = paths_for(store_root, dataset_id)
    if not (stage_p.is_file() and rec_p.is_file() and skip_p.is_file()):
        return None
    try:
        stage = read_json(stage_p)
        if stage.get("fingerprint") != fp or TRANSIENT_REASONS & set(stage.get("skipped_by_reason") or {}):
            return None
        prev = load_stage1(store_root, dataset_id)
    except (ValueError, KeyError, TypeError):
        return None  # a corrupt stage file means: rebuild
    if not all((store_root / r.image).is_file() and (r.mask is None or (store_root / r.mask).is_file())
               for r in prev.records):
        return None  # an image (or a localisation record's mask) was removed from the store: rebuild
    return prev


def run_stage1(
    job: DatasetJob,
    data_root: Path,
    store_root: Path,
    settings: BuildSettings,
    reader: Callable[..., Any],
    materializer: Callable[..., Any],
    reporter: Reporter | None = None,
) -> DatasetResult:
    """Read + materialise one dataset, or reuse the previous result when inputs match."""
    rec_p, skip_p, stage_p = paths_for(store_root, job.id)
    fp = fingerprint(job, data_root, settings)
    prev = _reusable(store_root, job.id, fp)
    if prev is not None:
        return prev
    raw: list[LabeledRecord] = []
    skips: list[Skip] = []
    for x in reader(job.id, job.layout, data_root, labels=job.labels, label_aliases=job.label_aliases or None,
                    **_with_limits(reader, settings)):
        (skips if isinstance(x, Skip) else raw).append(x)
    read = len(raw) + len(skips)
    with (reporter or Reporter()).task(f"images {job.id}", total=len(raw)) as task:
        records, mat_skips = materializer(raw, data_root, store_root, max_side=settings.max_side, fmt=settings.fmt,
                                          workers=settings.workers, progress=task.advance,
                                          **_with_limits(materializer, settings))
    records = sorted(records, key=lambda r: r.id)
    skips = skips + list(mat_skips)
    if len(records) + len(skips) < read:  # defend the invariant read = written + skipped
        done = {r.id for r in records}
        skipped_paths = {s.path for s in mat_skips}
        for r in raw:
            if r.id not in done and r.image not in skipped_paths:
                skips.append(Skip(job.id, r.image, "lost-record", "neither written nor skipped by materialisation"))
    by_reason = dict(sorted(Counter(s.reason for s in skips).items()))
    write_jsonl(rec_p, (r.to_dict() for r in records))
    write_jsonl(skip_p, (s.to_dict() for s in skips))
    write_json(stage_p, {"fingerprint": fp, "read": read, "written": len(records), "skipped": len(skips),
                         "skipped_by_reason": by_reason})
    return DatasetResult(job.id, records, skips, read, reused=False, skipped_by_reason=by_reason)
