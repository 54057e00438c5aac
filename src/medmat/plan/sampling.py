"""Deterministic, label-balanced choices of items: the planner's only source of randomness.

Every function takes a seed and sorts its inputs first, so the same store and seed give
the same items regardless of the order items were read in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from medmat.io import stable_hash
from medmat.records import VQAItem
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
        self.infos = store.subsets()
        self.groups: dict[tuple[str, str], list[VQAItem]] = defaultdict(list)
        for it in store.items():
            self.groups[(it.subset, it.split)].append(it)
        self._capped: dict[str, list[VQAItem]] = {}
        self._orders: dict[tuple[str, int], list[VQAItem]] = {}
        self._by_id: dict[str, VQAItem] | None = None
        self._fingerprint: str | None = None

    @property
    def by_id(self) -> dict[str, VQAItem]:
        if self._by_id is None:
            self._by_id = {it.item_id: it for g in self.groups.values() for it in g}
        return self._by_id

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
        return sorted(self.groups.get((subset, split), []), key=lambda it: it.item_id)

    def capped(self, subset: str) -> list[VQAItem]:
        """The subset's training items after the label-balanced cap (the paper's 3,000)."""
        if subset not in self._capped:
            self._capped[subset] = cap_balanced(self.groups.get((subset, "train"), []), self.cap,
                                                derive_seed(self.seed, "cap", subset))
        return self._capped[subset]

    def pool(self, subset: str, test_hashes: set[str]) -> Pool:
        items = self.capped(subset)
        clean = [it for it in items if not (it.image_hash and it.image_hash in test_hashes)]
        return Pool(subset, clean, len(items) - len(clean))


def take_even(pools: list[Pool], total: int, index: StoreIndex) -> dict[str, list[VQAItem]]:
    """``total`` items from ``pools``, sources as even as sizes allow, labels balanced within each."""
    alloc = water_fill({p.subset: len(p.items) for p in pools}, total)
    out = {}
    for p in pools:
        n = alloc[p.subset]
        out[p.subset] = p.items if n == len(p.items) else index.order(p)[:n]
    return out
