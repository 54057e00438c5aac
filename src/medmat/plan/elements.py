"""Which MAT elements a subset shares with a target, and the paper's direction types.

Everything the planner and the advisor decide rests on one question: which of the
target's modality, area and task (task compared by family, via ``Triplet.shared``) does a
subset supply? A subset sharing all three *is* the target for the purposes of a
compositional-generalization study (e.g. COVID-19 vs COVID-19-and-pneumonia on CT lungs)
and must never be trained on by an arm that excludes the target.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from dataclasses import dataclass, field
from itertools import product
from typing import Iterable

from medmat.registry import Registry
from medmat.mat import Triplet

ELEMENTS = ("modality", "area", "task")
FULL = frozenset(ELEMENTS)


@lru_cache(maxsize=4096)
def to_triplet(text: str | Triplet) -> Triplet:
    """Parse a triplet, falling back to the literal text for terms outside the vocabulary.

    Synthetic and user catalogs may extend the vocabulary; their stores still plan.
    """
    if isinstance(text, Triplet):
        return text
    try:
        return Triplet.parse(text)
    except ValueError:
        parts = [p.strip() for p in str(text).split("/", 2)]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"a triplet is written 'Modality/Area/Task', got {text!r}") from None
        return Triplet(*parts)


def shares(subset: Triplet, target: Triplet) -> frozenset[str]:
    return target.shared(subset)


def is_target_like(subset: Triplet, target: Triplet) -> bool:
    """Shares all three elements (task by family): counts as the target itself."""
    return shares(subset, target) == FULL


@dataclass(frozen=True)
class Direction:
    """A way of combining sources so that together they supply all three elements.

    ``parts`` gives, per source, the exact set of elements it shares with the target.
    The patterns are disjoint, so every covering pair has exactly one direction type.
    """

    name: str
    parts: tuple[frozenset[str], ...]
    doc: str


DIRECTIONS: Registry[Direction] = Registry("direction type")


def _d(name: str, doc: str, *parts: set[str]) -> None:
    DIRECTIONS.add(name, Direction(name, tuple(frozenset(p) for p in parts), doc))


_d("fixed-modality", "both share the modality; one supplies the area, the other the task",
   {"modality", "area"}, {"modality", "task"})
_d("fixed-area", "both share the area; one supplies the modality, the other the task",
   {"modality", "area"}, {"area", "task"})
_d("fixed-task", "both share the task; one supplies the modality, the other the area",
   {"modality", "task"}, {"area", "task"})
_d("modality-area", "one shares modality and area, the other only the task", {"modality", "area"}, {"task"})
_d("area-task", "one shares area and task, the other only the modality", {"area", "task"}, {"modality"})
_d("modality-task", "one shares modality and task, the other only the area", {"modality", "task"}, {"area"})
_d("three-sources", "three subsets, each sharing exactly one element", {"modality"}, {"area"}, {"task"})

# The order arms are enumerated and written in: the paper's four two-source types first.
DIRECTION_ORDER = ("fixed-modality", "fixed-area", "fixed-task", "modality-area",
                   "area-task", "modality-task", "three-sources")
assert sorted(DIRECTION_ORDER) == DIRECTIONS.names()


def classify(share_sets: Iterable[frozenset[str]]) -> str | None:
    """The direction type of a combination of sources, or None if it is not one."""
    got = sorted(sorted(s) for s in share_sets)
    for name in DIRECTION_ORDER:
        if got == sorted(sorted(p) for p in DIRECTIONS.get(name).parts):
            return name
    return None


@dataclass
class Candidate:
    """A subset seen from one target: what it supplies and how much it can give."""

    id: str
    triplet: Triplet
    shares: frozenset[str]
    n_train: int | None = None  # training items after the cap (None: unknown, catalog only)
    n_test: int | None = None
    datasets: list[str] = field(default_factory=list)

    @property
    def related(self) -> bool:
        return bool(self.shares) and self.shares != FULL

    @property
    def unrelated(self) -> bool:
        return not self.shares


def enumerate_combos(cands: list[Candidate], direction: str, limit: int | None) -> list[tuple[Candidate, ...]]:
    """Combinations of ``direction`` type, preferring larger subsets, deterministically.

    Ranked by the smallest source (the arm's size is bounded by its weakest source when
    sources contribute evenly), then by total size, then by subset ids.
    """
    d = DIRECTIONS.get(direction)
    groups = [[c for c in cands if c.shares == part] for part in d.parts]
    combos = [combo for combo in product(*groups) if len({c.id for c in combo}) == len(combo)]

    def key(combo: tuple[Candidate, ...]) -> tuple:
        sizes = [c.n_train or 0 for c in combo]
        return (-min(sizes), -sum(sizes), tuple(c.id for c in combo))

    combos.sort(key=key)
    return combos if limit is None else combos[:limit]


def did_you_mean(value: str, known: Iterable[str], n: int = 3) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=n, cutoff=0.4)
    if not close:
        close = sorted(known, key=lambda k: -difflib.SequenceMatcher(None, value.lower(), k.lower()).ratio())[:n]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
