"""Subset aggregation: datasets with the same subset (same MAT triplet) become one pool.

Splits are decided per dataset (each keeps its own split), questions per subset (the
distractor pool is the union of the subset's labels). The store keeps *every* item;
the per-subset training cap is applied on read (``VQAStore.capped_train`` /
``cap_balanced``) so that one store serves every cap. ``cap_report`` tells how many
training items a cap keeps per subset; ``medmat build --cap`` records it in summary.json.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from medmat.records import LabeledRecord, Skip, VQAItem
from medmat.store import cap_balanced
from medmat.vqa.builder import SubsetSpec, paused_gc, letter_counts
from medmat.vqa.builders import build_questions
from medmat.vqa.splits import assign_splits, one_sided_labels

DEFAULT_CAP = 3000


@dataclass
class SubsetBuild:
    """Everything stage 2 produced for one subset."""

    spec: SubsetSpec
    items: list[VQAItem] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for it in self.items:
            out[it.split] += 1
        return dict(sorted(out.items()))


def build_subsets(
    records: Mapping[str, list[LabeledRecord]],
    subsets: list[SubsetSpec],
    seed: int = 0,
    merge_val: bool = True,
) -> list[SubsetBuild]:
    """Split every dataset and build the questions of every subset.

    ``records`` maps dataset id -> its records; each subset's ``datasets`` names the
    datasets it pools. Results come back in subset-id order.
    """
    with paused_gc():
        return [_build_one(spec, records, seed, merge_val) for spec in sorted(subsets, key=lambda s: s.id)]


def _build_one(spec: SubsetSpec, records: Mapping[str, list[LabeledRecord]], seed: int, merge_val: bool
               ) -> SubsetBuild:
    res = SubsetBuild(spec)
    pooled: list[LabeledRecord] = []
    splits: dict[str, str] = {}
    for ds in sorted(spec.datasets):
        recs = records.get(ds, [])
        if not recs:
            res.warnings.append(f"dataset {ds} has no records")
            continue
        ds_splits = assign_splits(recs, seed=seed, merge_val=merge_val)
        splits.update(ds_splits)
        pooled.extend(recs)
    one_sided = one_sided_labels(pooled, splits)
    for lab, sides in one_sided.items():
        res.warnings.append(f"label {lab!r} only in {'/'.join(sides)} of subset {spec.id}")
    seen = {lab for r in pooled for lab in r.labels}
    for lab in spec.labels:
        if lab not in seen:
            res.warnings.append(f"label {lab!r} of subset {spec.id} has no images")
    res.items, res.skips = build_questions(pooled, spec, splits, seed=seed)
    return res


def cap_report(items: list[VQAItem], cap: int | None, seed: int = 0) -> dict[str, int]:
    """How many train items ``cap`` keeps in this subset (label-balanced, as the store does)."""
    train = [it for it in items if it.split == "train"]
    return {"train": len(train), "kept": len(cap_balanced(train, cap, seed))}


def subset_summary(build: SubsetBuild, cap: int | None, seed: int = 0) -> dict:
    extra = {"builder": build.spec.builder} if build.spec.builder != "choice" else {}
    return {
        **extra,
        "triplet": build.spec.triplet,
        "items": build.counts(),
        "letters": letter_counts(build.items),
        "skipped": len(build.skips),
        "cap": cap_report(build.items, cap, seed),
        "warnings": build.warnings,
    }
