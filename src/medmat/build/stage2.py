"""Stage 2: splits + questions for every subset, and the store's top-level files.

Writes (atomically, in this order, store.json last so a store is never half-declared):
``items.jsonl``, ``skips.jsonl``, ``summary.json``, ``store.json``. Nothing in them
depends on the clock, the machine or absolute paths, so the same inputs and seed give
byte-identical files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import medmat
from medmat.io import write_json, write_jsonl
from medmat.build.config import BuildSettings
from medmat.build.stage1 import DatasetResult
from medmat.store import STORE_VERSION
from medmat.records import LabeledRecord
from medmat.vqa.aggregate import SubsetBuild, build_subsets, subset_summary
from medmat.vqa.builder import SubsetSpec

SPLIT_POLICY = (
    "dataset's own split kept (val merged into train); otherwise group-aware stratified 9:1 by label, "
    "at least one test unit per label with two or more units"
)
MULTI_LABEL_POLICY = "one question per true label; distractors never true labels of the image"


def _fill_labels(spec: SubsetSpec, results: dict[str, DatasetResult]) -> SubsetSpec:
    """Add the labels seen in the records that the catalog did not list (datasets with
    ``labels: null`` or ad-hoc ones). Readers already skip labels outside a dataset's
    known list, so this never lets an unknown label of a labelled dataset through."""
    known = set(spec.labels)
    extra = sorted({lab for ds in spec.datasets if ds in results for r in results[ds].records
                    for lab in r.labels} - known)
    return replace(spec, labels=[*spec.labels, *extra]) if extra else spec


Builder = Callable[[dict[str, list[LabeledRecord]], list[SubsetSpec], BuildSettings], list[SubsetBuild]]


def default_builder(records: dict[str, list[LabeledRecord]], subsets: list[SubsetSpec],
                    settings: BuildSettings) -> list[SubsetBuild]:
    return build_subsets(records, subsets, seed=settings.seed, merge_val=settings.merge_val)


def write_stage2(store_root: Path, subsets: list[SubsetSpec], results: dict[str, DatasetResult],
                 settings: BuildSettings, builder: Builder = default_builder,
                 extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build all items and write the store files; returns the summary (as written).

    ``builder`` turns records into per-subset items (the importer keeps released questions).
    """
    subsets = [_fill_labels(s, results) for s in subsets]
    records = {ds: r.records for ds, r in results.items()}
    builds = builder(records, subsets, settings)

    items = [it for b in builds for it in b.items]
    write_jsonl(store_root / "items.jsonl", (it.to_dict() for it in items))
    all_skips = [s for ds in sorted(results) for s in results[ds].skips] + [s for b in builds for s in b.skips]
    write_jsonl(store_root / "skips.jsonl", (s.to_dict() for s in all_skips))

    item_skips = Counter(s.source for b in builds for s in b.skips)
    datasets = {ds: {**results[ds].summary(), "item_skips": item_skips.get(ds, 0)} for ds in sorted(results)}
    split_counts: Counter[str] = Counter(it.split for it in items)
    summary = {
        "seed": settings.seed,
        "cap": settings.cap_value,
        "datasets": datasets,
        "subsets": {b.spec.id: subset_summary(b, settings.cap_value, settings.seed) for b in builds},
        "totals": {
            "read": sum(d["read"] for d in datasets.values()),
            "written": sum(d["written"] for d in datasets.values()),
            "skipped": sum(d["skipped"] for d in datasets.values()),
            "items": len(items),
            "items_by_split": dict(sorted(split_counts.items())),
            "item_skips": sum(item_skips.values()),
            "skips_logged": len(all_skips),
        },
        "warnings": [w for b in builds for w in b.warnings],
    }
    write_json(store_root / "summary.json", summary)
    ds_subset = {ds: s.id for s in subsets for ds in s.datasets}
    write_json(store_root / "store.json", {
        "version": STORE_VERSION,
        "medmat": medmat.__version__,
        "seed": settings.seed,
        "cap": settings.cap_value,
        "split_policy": SPLIT_POLICY,
        "multi_label_policy": MULTI_LABEL_POLICY,
        "datasets": [{"id": ds, "subset": ds_subset.get(ds), **results[ds].summary()} for ds in sorted(results)],
        "subsets": [s.to_dict() for s in sorted(subsets, key=lambda s: s.id)],
        **(extra_meta or {}),
    })
    return summary
