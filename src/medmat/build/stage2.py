"""Stage 2: splits + questions for every subset, and the store's top-level files.

Writes (atomically, in this order, store.json last so a store is never half-declared):
``items.jsonl``, ``skips.jsonl``, ``summary.json``, ``store.json``. Nothing in them
depends on the clock, the machine or absolute paths, so the same inputs and seed give
byte-identical files.

It streams, so a build's memory does not grow with the store: the subsets are built one
at a time in id order, each from its datasets' records as stage 1 wrote them
(``records/<ds>.jsonl``), and their items go straight into items.jsonl through one atomic
writer; only each subset's summary, warnings and item skips are kept. A custom builder
(the Med-MAT importer, which keeps released questions) is called the same way, one
subset at a time, with the records its stage-1 results carry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import medmat
from medmat.io import read_jsonl, write_json, write_jsonl
from medmat.build.config import BuildSettings
from medmat.build.stage1 import DatasetResult, paths_for
from medmat.store import STORE_VERSION
from medmat.records import LabeledRecord, Skip
from medmat.vqa.aggregate import SubsetBuild, build_subsets, subset_summary
from medmat.vqa.builder import SubsetSpec

SPLIT_POLICY = (
    "dataset's own split kept (val merged into train); otherwise group-aware stratified 9:1 by label, "
    "at least one test unit per label with two or more units"
)
MULTI_LABEL_POLICY = "one question per true label; distractors never true labels of the image"


def _fill_labels(spec: SubsetSpec, records: dict[str, list[LabeledRecord]]) -> SubsetSpec:
    """Add the labels seen in the records that the catalog did not list (datasets with
    ``labels: null`` or ad-hoc ones). Readers already skip labels outside a dataset's
    known list, so this never lets an unknown label of a labelled dataset through."""
    known = set(spec.labels)
    extra = sorted({lab for recs in records.values() for r in recs for lab in r.labels} - known)
    return replace(spec, labels=[*spec.labels, *extra]) if extra else spec


def _with_builders(subsets: list[SubsetSpec], settings: BuildSettings) -> list[SubsetSpec]:
    """Each subset with the question builder the settings name for it (``builders``)."""
    chosen = settings.builders
    unknown = sorted(set(chosen) - {s.id for s in subsets})
    if unknown:
        raise ValueError(f"builders names subsets this build does not make: {unknown} "
                         f"(subsets: {sorted(s.id for s in subsets)})")
    return [replace(s, builder=chosen[s.id]) if s.id in chosen else s for s in subsets]


Builder = Callable[[dict[str, list[LabeledRecord]], list[SubsetSpec], BuildSettings], list[SubsetBuild]]


def default_builder(records: dict[str, list[LabeledRecord]], subsets: list[SubsetSpec],
                    settings: BuildSettings) -> list[SubsetBuild]:
    return build_subsets(records, subsets, seed=settings.seed, merge_val=settings.merge_val)


def _stage1_records(store_root: Path, dataset_id: str) -> list[LabeledRecord]:
    return [LabeledRecord.from_dict(d) for d in read_jsonl(paths_for(store_root, dataset_id)[0])]


class _Subsets:
    """Builds the subsets one at a time and yields their items' rows, keeping only what
    the summary and store.json need (:func:`write_stage2`)."""

    def __init__(self, store_root: Path, subsets: list[SubsetSpec], results: dict[str, DatasetResult],
                 settings: BuildSettings, builder: Builder | None):
        self.store_root, self.subsets, self.results = store_root, subsets, results
        self.settings, self.builder = settings, builder
        self.specs: list[SubsetSpec] = []
        self.summaries: dict[str, Any] = {}
        self.skips: list[Skip] = []
        self.warnings: list[str] = []
        self.split_counts: Counter[str] = Counter()
        self.n_items = 0

    def _records(self, spec: SubsetSpec) -> dict[str, list[LabeledRecord]]:
        present = [ds for ds in spec.datasets if ds in self.results]
        if self.builder is not None:  # the importer's records differ from what stage 1 wrote
            return {ds: self.results[ds].records for ds in present}
        return {ds: _stage1_records(self.store_root, ds) for ds in present}

    def rows(self) -> Iterator[dict[str, Any]]:
        for spec in sorted(self.subsets, key=lambda s: s.id):
            records = self._records(spec)
            spec = _fill_labels(spec, records)
            build_fn = self.builder or default_builder
            (build,) = build_fn(records, [spec], self.settings)
            del records
            self.specs.append(spec)
            self.summaries[spec.id] = subset_summary(build, self.settings.cap_value, self.settings.seed)
            self.skips.extend(build.skips)
            self.warnings.extend(build.warnings)
            self.split_counts.update(it.split for it in build.items)
            self.n_items += len(build.items)
            items, build.items = build.items, []
            for it in items:
                yield it.to_dict()


def write_stage2(store_root: Path, subsets: list[SubsetSpec], results: dict[str, DatasetResult],
                 settings: BuildSettings, builder: Builder | None = None,
                 extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build all items and write the store files; returns the summary (as written).

    ``builder`` turns records into one subset's items (called with one subset at a time);
    default: the subset's question builder. The importer passes one that keeps released
    questions, and its records are those of ``results`` (module docstring).
    """
    subsets = _with_builders(subsets, settings)
    built = _Subsets(store_root, subsets, results, settings, builder)
    write_jsonl(store_root / "items.jsonl", built.rows())
    all_skips = [s for ds in sorted(results) for s in results[ds].skips] + built.skips
    write_jsonl(store_root / "skips.jsonl", (s.to_dict() for s in all_skips))

    item_skips = Counter(s.source for s in built.skips)
    datasets = {ds: {**results[ds].summary(), "item_skips": item_skips.get(ds, 0)} for ds in sorted(results)}
    summary = {
        "seed": settings.seed,
        "cap": settings.cap_value,
        "datasets": datasets,
        "subsets": built.summaries,
        "totals": {
            "read": sum(d["read"] for d in datasets.values()),
            "written": sum(d["written"] for d in datasets.values()),
            "skipped": sum(d["skipped"] for d in datasets.values()),
            "items": built.n_items,
            "items_by_split": dict(sorted(built.split_counts.items())),
            "item_skips": sum(item_skips.values()),
            "skips_logged": len(all_skips),
        },
        "warnings": built.warnings,
    }
    write_json(store_root / "summary.json", summary)
    ds_subset = {ds: s.id for s in built.specs for ds in s.datasets}
    write_json(store_root / "store.json", {
        "version": STORE_VERSION,
        "medmat": medmat.__version__,
        "seed": settings.seed,
        "cap": settings.cap_value,
        "split_policy": SPLIT_POLICY,
        "multi_label_policy": MULTI_LABEL_POLICY,
        "datasets": [{"id": ds, "subset": ds_subset.get(ds), **results[ds].summary()} for ds in sorted(results)],
        "subsets": [s.to_dict() for s in built.specs],
        **(extra_meta or {}),
    })
    return summary
