"""Train/test splits of one dataset's records.

Policy (documented in the build summary):

* A dataset that ships its own split keeps it. ``val`` is merged into ``train`` (Med-MAT
  reports train and test only); records of such a dataset without a split are split
  like a dataset without one (below).
* Otherwise a deterministic, stratified 9:1 split: records are grouped into *units* (a
  patient/study ``group`` when the record carries one, else the record itself), each unit
  gets the majority label of its records (ties: the alphabetically first), and within each
  label the units are ordered by a seeded hash and the first ``round(n * test_fraction)``
  go to test, at least one when the label has two or more units. A group is therefore
  never on both sides, and every label with two or more units appears on both sides.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Iterable

from medmat.records import LabeledRecord

TEST_FRACTION = 0.1


def _order_key(seed: int, unit: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{unit}".encode()).hexdigest()


def _stratum(rec: LabeledRecord) -> str:
    return rec.labels[0] if len(rec.labels) == 1 else "|".join(sorted(rec.labels))


def stratified_split(records: list[LabeledRecord], seed: int = 0,
                     test_fraction: float = TEST_FRACTION) -> dict[str, str]:
    """Group-aware stratified split: record id -> 'train' | 'test'."""
    units: dict[str, list[LabeledRecord]] = defaultdict(list)
    for rec in records:
        units[f"g:{rec.group}" if rec.group else f"r:{rec.id}"].append(rec)
    by_label: dict[str, list[str]] = defaultdict(list)
    for unit, recs in units.items():
        if len(recs) == 1:  # the common case: no group
            by_label[_stratum(recs[0])].append(unit)
            continue
        counts = Counter(_stratum(r) for r in recs)
        top = max(counts.values())
        by_label[min(k for k, v in counts.items() if v == top)].append(unit)
    out: dict[str, str] = {}
    for label in sorted(by_label):
        ordered = sorted(by_label[label], key=lambda u: _order_key(seed, u))
        n = len(ordered)
        n_test = max(1, round(n * test_fraction)) if n >= 2 else 0
        for i, unit in enumerate(ordered):
            side = "test" if i < n_test else "train"
            for rec in units[unit]:
                out[rec.id] = side
    return out


def assign_splits(records: Iterable[LabeledRecord], seed: int = 0, merge_val: bool = True,
                  test_fraction: float = TEST_FRACTION) -> dict[str, str]:
    """Split one dataset's records (see module docstring): record id -> split name."""
    own: dict[str, str] = {}
    rest: list[LabeledRecord] = []
    for rec in records:
        if rec.split:
            own[rec.id] = "train" if (merge_val and rec.split == "val") else rec.split
        else:
            rest.append(rec)
    own.update(stratified_split(rest, seed, test_fraction))
    return own


def one_sided_labels(records: Iterable[LabeledRecord], splits: dict[str, str]) -> dict[str, list[str]]:
    """Labels that occur on only one side of the split: label -> the sides it has."""
    sides: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        side = splits.get(rec.id)
        if side is None:
            continue
        for lab in rec.labels:
            sides[lab].add(side)
    return {lab: sorted(s) for lab, s in sorted(sides.items()) if not {"train", "test"} <= s}
