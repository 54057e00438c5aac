"""Advice: which subsets (public datasets) would help a target that has little data?

Ranks the available subsets by the elements they share with the target and proposes
the minimal combinations that jointly supply modality, area and task (fewest subsets,
then fewest training items after the cap). Works from a built store (item counts known),
from a catalog (triplets only: counts unknown, but dataset names known), or both (store
counts, catalog names, plus catalog subsets not yet built: those are what to add).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

from medmat.config import DEFAULT_CAP
from medmat.plan.elements import ELEMENTS, FULL, classify, shares, to_triplet
from medmat.store import VQAStore


class AdviceError(ValueError):
    pass


@dataclass
class SubsetAdvice:
    id: str
    triplet: str
    shares: list[str]  # elements shared with the target, in M/A/T order
    n_train: int | None  # training items after the cap; None when only the catalog knows it
    in_store: bool
    datasets: list[str] = field(default_factory=list)  # source dataset names
    status: str | None = None  # catalog status (released/todo) when known


@dataclass
class Cover:
    subsets: list[str]
    direction: str | None
    n_train: int | None  # total; None if any count is unknown
    contributions: dict[str, int | None]


@dataclass
class Advice:
    target: str
    target_subsets: list[str]  # subsets that are the target (or share all three elements)
    target_n_train: int | None
    ranked: list[SubsetAdvice]
    covers: list[Cover]
    missing: list[str]  # elements no subset supplies
    cap: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _catalog(files: Sequence[str | Path] | None):
    from medmat.catalog import load_catalog

    return load_catalog(user_files=[Path(f) for f in files or []])


def gather(store: VQAStore | None, catalog: Any | None, cap: int | None) -> list[SubsetAdvice]:
    """Every subset known to the store and/or the catalog, with counts where built."""
    rows: dict[str, SubsetAdvice] = {}
    if store is not None:
        for sid, info in store.subsets().items():
            n = info.counts.get("train", 0)
            rows[sid] = SubsetAdvice(sid, str(to_triplet(info.triplet)), [], min(n, cap) if cap else n, True,
                                     list(info.datasets))
    if catalog is not None:
        names = {did: getattr(d, "name", did) for did, d in getattr(catalog, "datasets", {}).items()}
        for sid, entry in catalog.subsets.items():
            dsets = [names.get(d, d) for d in getattr(entry, "datasets", [])]
            status = getattr(entry, "status", None)
            if sid in rows:
                rows[sid].datasets, rows[sid].status = dsets or rows[sid].datasets, status
            else:
                rows[sid] = SubsetAdvice(sid, str(to_triplet(str(entry.triplet))), [], None, False, dsets, status)
    return [rows[k] for k in sorted(rows)]


def minimal_covers(cands: list[SubsetAdvice], limit: int | None = 10) -> list[Cover]:
    """All covers of {modality, area, task} with the fewest subsets, fewest items first.

    Subsets known to hold no training items cannot help and are left out.

    One subset can never cover alone (it would be the target), so the search tries pairs,
    then triples; a triple always suffices when every element has a supplier.
    """
    usable = [c for c in cands if c.shares and set(c.shares) != FULL and c.n_train != 0]
    for size in (2, 3):
        found = [combo for combo in combinations(usable, size)
                 if set().union(*(c.shares for c in combo)) == FULL]
        if found:
            break
    else:
        return []
    covers = []
    for combo in found:
        counts = {c.id: c.n_train for c in sorted(combo, key=lambda c: c.id)}
        total = None if any(v is None for v in counts.values()) else sum(counts.values())
        covers.append(Cover(sorted(counts), classify(frozenset(c.shares) for c in combo), total, counts))
    covers.sort(key=lambda cv: (cv.n_train is None, cv.n_train or 0, cv.subsets))
    return covers if limit is None else covers[:limit]


def advise(target: str, store: VQAStore | None = None, catalog_files: Sequence[str | Path] | None = None,
           cap: int | None = None, max_covers: int | None = 10) -> Advice:
    """Rank subsets for ``target`` and propose minimal covering combinations.

    ``cap`` bounds each subset's training count as the planner would (None: the store's
    own cap, else the default; 0: no cap).

    The catalog (built-in plus ``catalog_files``) is used when files are given or there is
    no store; a store alone is advised from as it is, so a synthetic store is not mixed
    with the 53 Med-MAT subsets it does not contain.
    """
    trip = to_triplet(target)
    if cap is None:
        cap = store.meta.get("cap", DEFAULT_CAP) if store is not None else DEFAULT_CAP
    cap = cap or None
    catalog = _catalog(catalog_files) if (catalog_files or store is None) else None
    rows = gather(store, catalog, cap)
    if not rows:
        raise AdviceError("no subsets to advise from: the store and catalog are empty")
    target_like, ranked = [], []
    for r in rows:
        sh = shares(to_triplet(r.triplet), trip)
        r.shares = [e for e in ELEMENTS if e in sh]
        if sh == FULL:
            target_like.append(r)
        elif sh:
            ranked.append(r)
    ranked.sort(key=lambda r: (-len(r.shares), -(r.n_train or 0), r.id))
    exact = [r for r in target_like if to_triplet(r.triplet) == trip]
    t_n = sum(r.n_train for r in exact if r.n_train is not None) if any(r.n_train is not None for r in exact) else None
    missing = [e for e in ELEMENTS if not any(e in r.shares for r in ranked)]
    return Advice(str(trip), [r.id for r in target_like], t_n, ranked, minimal_covers(ranked, max_covers), missing, cap)
