"""The VQA store: the built data on disk (see docs/ARCHITECTURE.md).

Everything after ``medmat build`` (planner, trainer, evaluator, exporters, audit) reads
the store through this class and never touches raw dataset layouts.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medmat.io import read_json, read_jsonl, sha256_file
from medmat.records import VQAItem

STORE_VERSION = 1


@dataclass
class SubsetInfo:
    id: str
    triplet: str
    labels: list[str]
    multi_label: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # split -> number of items
    datasets: list[str] = field(default_factory=list)


class StoreError(ValueError):
    pass


class _Parsed:
    """Parsed ``items.jsonl`` files of this process, keyed by the file's identity.

    A study opens the same store hundreds of times (each arm's training and evaluation);
    parsing it each time cost minutes in the Table-3 study. A file is identified by device,
    inode, size and mtime: medmat writes a store atomically (a new file is a new inode), so a
    rebuilt store is parsed again. The items are shared between every ``VQAStore`` of the
    same file: treat them as read-only (nothing in medmat changes a stored item).
    """

    def __init__(self, keep: int = 4):
        self.keep = keep
        self.entries: OrderedDict[tuple, dict[str, Any]] = OrderedDict()

    @staticmethod
    def identity(path: Path) -> tuple:
        st = os.stat(path)
        return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def entry(self, path: Path) -> dict[str, Any]:
        key = self.identity(path)
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = {}
            while len(self.entries) > self.keep:
                self.entries.popitem(last=False)
        self.entries.move_to_end(key)
        return found

    def clear(self) -> None:
        self.entries.clear()


PARSED = _Parsed()


class VQAStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.items_path = self.root / "items.jsonl"
        if not self.items_path.is_file():
            raise StoreError(f"{self.root} is not a medmat VQA store (no items.jsonl); run `medmat build` first")
        self._items: list[VQAItem] | None = None
        self._subsets: dict[str, SubsetInfo] | None = None
        self._fingerprint: str | None = None
        meta_path = self.root / "store.json"
        self.meta: dict[str, Any] = read_json(meta_path) if meta_path.is_file() else {}

    # -- items ------------------------------------------------------------------------
    def _all(self) -> list[VQAItem]:
        if self._items is None:
            entry = PARSED.entry(self.items_path)
            if "items" not in entry:
                entry["items"] = [VQAItem.from_dict(d) for d in read_jsonl(self.items_path)]
            self._items = entry["items"]
        return self._items

    def items(self, subset: str | None = None, split: str | None = None) -> list[VQAItem]:
        return [
            it for it in self._all()
            if (subset is None or it.subset == subset) and (split is None or it.split == split)
        ]

    def by_id(self) -> dict[str, VQAItem]:
        return {it.item_id: it for it in self._all()}

    def image_path(self, item: VQAItem) -> Path:
        return self.root / item.image

    def fingerprint(self) -> str:
        """sha256 of items.jsonl (cached: a store is not rewritten while it is open)."""
        if self._fingerprint is None:
            entry = PARSED.entry(self.items_path)
            if "sha256" not in entry:
                entry["sha256"] = sha256_file(self.items_path)
            self._fingerprint = entry["sha256"]
        return self._fingerprint

    # -- subsets ----------------------------------------------------------------------
    def subsets(self) -> dict[str, SubsetInfo]:
        if self._subsets is None:
            self._subsets = self._compute_subsets()
        return self._subsets

    def _compute_subsets(self) -> dict[str, SubsetInfo]:
        declared = {s["id"]: s for s in self.meta.get("subsets", [])}
        out: dict[str, SubsetInfo] = {}
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        datasets: dict[str, set[str]] = defaultdict(set)
        first: dict[str, VQAItem] = {}
        labels: dict[str, set[str]] = defaultdict(set)
        for it in self._all():
            counts[it.subset][it.split] += 1
            datasets[it.subset].add(it.dataset)
            first.setdefault(it.subset, it)
            labels[it.subset].update(it.labels)
        for sid in sorted(set(first) | set(declared)):
            d = declared.get(sid, {})
            out[sid] = SubsetInfo(
                id=sid,
                triplet=d.get("triplet") or first[sid].triplet,
                labels=list(d.get("labels") or sorted(labels[sid])),
                multi_label=bool(d.get("multi_label", False)),
                counts=dict(counts.get(sid, {})),
                datasets=sorted(datasets.get(sid, set())),
            )
        return out

    def capped_train(self, subset: str, cap: int | None, seed: int = 0) -> list[VQAItem]:
        """The subset's training items, capped to ``cap`` with labels as balanced as possible."""
        return cap_balanced(self.items(subset, "train"), cap, seed)


def balanced_order(items: list[VQAItem], seed: int) -> list[VQAItem]:
    """All items, ordered round-robin over answer labels (each label shuffled with ``seed``).

    Any prefix is as label-balanced as possible and a shorter prefix lies inside a longer
    one (what makes capped subsets and nested low-data arms consistent).
    """
    groups: dict[str, list[VQAItem]] = defaultdict(list)
    for it in sorted(items, key=lambda it: it.item_id):
        groups[it.answer].append(it)
    rng = random.Random(seed)
    queues = []
    for label in sorted(groups):
        g = groups[label][:]
        rng.shuffle(g)
        g.reverse()  # pop() from the end takes items in shuffled order without O(n) pops
        queues.append(g)
    out: list[VQAItem] = []
    while queues:
        for q in queues:
            out.append(q.pop())
        queues = [q for q in queues if q]
    return out


def cap_balanced(items: list[VQAItem], cap: int | None, seed: int = 0) -> list[VQAItem]:
    """Deterministic label-balanced sample of at most ``cap`` items, sorted by item_id.

    Rare labels keep all their items and frequent labels are trimmed (a prefix of
    :func:`balanced_order`), so the result does not depend on input order.
    """
    if cap is None or len(items) <= cap:
        return sorted(items, key=lambda it: it.item_id)
    return sorted(balanced_order(items, seed)[:cap], key=lambda it: it.item_id)
