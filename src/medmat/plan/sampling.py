"""Deterministic, label-balanced choices of items: the planner's only source of randomness.

Every function takes a seed and sorts its inputs first, so the same store and seed give
the same items regardless of the order items were read in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import Iterable

from medmat.io import stable_hash
from medmat.records import VQAItem
from medmat.runtime import gc_paused
from medmat.store import VQAStore, balanced_order, cap_balanced


def derive_seed(seed: int, *parts: object) -> int:
    """An independent seed per arm/source, so adding an arm never changes another's sample."""
    return int(stable_hash(seed, *parts), 16) % (2**31)


def water_fill(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split ``total`` over sources as evenly as their sizes allow.

    Small sources give everything they have; the rest share equally. Ties and rounding go
    to sources in id order, so the result is deterministic.
    """
    if total > sum(sizes.values()):
        raise ValueError(f"cannot take {total} items from sources holding {sum(sizes.values())}")
    alloc = {k: 0 for k in sizes}
    remaining = total
    order = sorted(sizes, key=lambda k: (sizes[k], k))
    for i, k in enumerate(order):
        take = min(sizes[k], remaining // (len(order) - i))
        alloc[k] = take
        remaining -= take
    while remaining:  # rounding leftovers, one at a time in id order
        for k in sorted(sizes):
            if remaining and alloc[k] < sizes[k]:
                alloc[k] += 1
                remaining -= 1
    return alloc


@dataclass
class IdSets:
    """Item ids by split, by triplet and by image hash: what the invariants look items up in,
    so each check of an arm is a set operation in C instead of a loop over its items."""

    by_split: dict[str, set[str]]
    by_triplet: dict[str, set[str]]
    shared_hash: dict[str, set[str]]  # only image hashes that more than one item shows

    @classmethod
    def of(cls, items: Iterable[VQAItem]) -> "IdSets":
        items = list(items)
        by_split: dict[str, list[str]] = defaultdict(list)
        by_triplet: dict[str, list[str]] = defaultdict(list)
        for it in items:
            by_split[it.split].append(it.item_id)
            by_triplet[it.triplet].append(it.item_id)
        counts = Counter(map(attrgetter("image_hash"), items))
        twice = {h for h, n in counts.items() if n > 1 and h}
        shared: dict[str, set[str]] = defaultdict(set)
        for it in [it for it in items if it.image_hash in twice]:
            shared[it.image_hash].add(it.item_id)
        return cls({k: set(v) for k, v in by_split.items()}, {k: set(v) for k, v in by_triplet.items()},
                   dict(shared))


@dataclass
class Pool:
    """The items one subset can give to training: capped, with target-test images removed."""

    subset: str
    items: list[VQAItem]
    dropped_leaks: int


class StoreIndex:
    """One pass over the store, grouped by subset and split; capped pools are cached."""

    def __init__(self, store: VQAStore, cap: int | None, seed: int):
        self.store = store
        self.cap = cap
        self.seed = seed
        with gc_paused(old=True):  # the store's items live as long as the index (runtime.gc_paused)
            self.infos = store.subsets()
            self.groups: dict[tuple[str, str], list[VQAItem]] = defaultdict(list)
            for it in store.items():
                self.groups[(it.subset, it.split)].append(it)
        self._capped: dict[str, list[VQAItem]] = {}
        self._orders: dict[tuple[str, int], list[VQAItem]] = {}
        self._splits: dict[tuple[str, str], list[VQAItem]] = {}
        self._pools: dict[tuple[str, frozenset[str]], Pool] = {}
        self._hashes: dict[str, set[str]] = {}
        self._by_id: dict[str, VQAItem] | None = None
        self._id_sets: IdSets | None = None
        self._fingerprint: str | None = None
        self.memo: dict[str, object] = {}  # what an arm builder derives once per plan (plan/multitask.py)

    @property
    def by_id(self) -> dict[str, VQAItem]:
        if self._by_id is None:
            self._by_id = {it.item_id: it for g in self.groups.values() for it in g}
        return self._by_id

    @property
    def id_sets(self) -> IdSets:
        if self._id_sets is None:
            with gc_paused():
                self._id_sets = IdSets.of(self.by_id.values())
        return self._id_sets

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.store.fingerprint()
        return self._fingerprint

    def order(self, pool: "Pool") -> list[VQAItem]:
        """The pool's items in label-balanced order, one fixed order per subset (cached).

        Every arm that samples from a subset takes a prefix of the same order, so a smaller
        arm's items from that subset are contained in a larger arm's.
        """
        key = (pool.subset, len(pool.items))
        if key not in self._orders:
            self._orders[key] = balanced_order(pool.items, derive_seed(self.seed, "order", pool.subset))
        return self._orders[key]

    def split(self, subset: str, split: str) -> list[VQAItem]:
        """The subset's items of one split, sorted by item id (sorted once, a new list each call)."""
        key = (subset, split)
        if key not in self._splits:
            self._splits[key] = sorted(self.groups.get(key, []), key=attrgetter("item_id"))
        return list(self._splits[key])

    def capped(self, subset: str) -> list[VQAItem]:
        """The subset's training items after the label-balanced cap (the paper's 3,000)."""
        if subset not in self._capped:
            self._capped[subset] = cap_balanced(self.groups.get((subset, "train"), []), self.cap,
                                                derive_seed(self.seed, "cap", subset))
        return self._capped[subset]

    def pool(self, subset: str, test_hashes: set[str]) -> Pool:
        """The subset's capped items minus those showing a test image (cached per set of test images)."""
        items = self.capped(subset)
        if subset not in self._hashes:
            self._hashes[subset] = {it.image_hash for it in items if it.image_hash}
        if self._hashes[subset].isdisjoint(test_hashes):  # the usual case: nothing to drop
            return Pool(subset, list(items), 0)
        key = (subset, frozenset(test_hashes))
        if key not in self._pools:
            clean = [it for it in items if not (it.image_hash and it.image_hash in test_hashes)]
            self._pools[key] = Pool(subset, clean, len(items) - len(clean))
        pool = self._pools[key]
        return Pool(pool.subset, list(pool.items), pool.dropped_leaks)


def take_even(pools: list[Pool], total: int, index: StoreIndex) -> dict[str, list[VQAItem]]:
    """``total`` items from ``pools``, sources as even as sizes allow, labels balanced within each."""
    alloc = water_fill({p.subset: len(p.items) for p in pools}, total)
    out = {}
    for p in pools:
        n = alloc[p.subset]
        out[p.subset] = p.items if n == len(p.items) else index.order(p)[:n]
    return out
