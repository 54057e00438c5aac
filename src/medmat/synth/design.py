"""The synthetic world's design (``design.yaml``) and the CG structure of its triplets.

The design is data: modalities, areas, tasks (with labels, vocabulary family and
instruction templates) and a sparse list of existing triplets. This module loads it,
checks it against the renderers and finding samplers, and answers the CG questions the
planner and experimenters need: which triplets are related to a target (share one or two
elements, per direction type) and which are unrelated (share none).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from importlib import resources
from typing import Iterable

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from medmat.mat import Triplet, Vocabulary, default_vocabulary

DIRECTIONS = ("fixed-modality", "fixed-area", "fixed-task", "modality-area")


class TaskDef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str  # finding kind in medmat.synth.findings.FINDINGS
    name: str
    family: str
    labels: list[str]
    templates: list[str] = Field(min_length=6)


class Design(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int = 1
    modalities: dict[str, str]
    areas: dict[str, str]
    tasks: list[TaskDef]
    design_seed: int = 0
    triplets: list[str]
    localisation: TaskDef | None = None  # opt-in detection task (SynthConfig.localisation)

    def task(self, name_or_key: str) -> TaskDef:
        for t in self.all_tasks():
            if name_or_key in (t.name, t.key):
                return t
        raise KeyError(f"unknown synthetic task {name_or_key!r} (known: {', '.join(t.name for t in self.all_tasks())})")

    def all_tasks(self) -> list[TaskDef]:
        """The classification tasks, then the localisation task if the design has one."""
        return list(self.tasks) + ([self.localisation] if self.localisation is not None else [])

    def is_localisation(self, name_or_key: str) -> bool:
        return self.localisation is not None and name_or_key in (self.localisation.name, self.localisation.key)

    def vocabulary_extension(self, localisation: bool = False) -> dict:
        """The catalog ``vocabulary:`` block: the design's tasks with their families (the
        localisation task only when a run makes it, so a run without it writes what it always did)."""
        tasks = self.all_tasks() if localisation else self.tasks
        return {"tasks": [{"name": t.name, "family": t.family} for t in tasks]}

    def vocab(self) -> Vocabulary:
        return _extended(tuple((t.name, t.family) for t in self.all_tasks()))

    def triplet_objects(self) -> list[Triplet]:
        v = self.vocab()
        return [Triplet.parse(s, v) for s in self.triplets]


@lru_cache(maxsize=8)
def _extended(tasks: tuple[tuple[str, str], ...]) -> Vocabulary:
    return default_vocabulary().extended({"tasks": [{"name": n, "family": f} for n, f in tasks]})


@lru_cache(maxsize=1)
def load_design() -> Design:
    """The shipped design, validated (labels match the finding samplers, names the vocabulary)."""
    text = resources.files("medmat.synth").joinpath("design.yaml").read_text(encoding="utf-8")
    design = Design.model_validate(yaml.safe_load(text))
    check_design(design)
    return design


def check_design(design: Design) -> None:
    from medmat.synth.anatomy import AREAS
    from medmat.synth.findings import FINDINGS
    from medmat.synth.styles import MODALITIES

    vocab = design.vocab()
    for m in design.modalities:
        MODALITIES.get(vocab.normalize("modality", m))
    for a in design.areas:
        AREAS.get(vocab.normalize("area", a))
    words: dict[str, str] = {}
    for t in design.tasks:  # label words are unique among the classification tasks
        kind = FINDINGS.get(t.key)
        if tuple(t.labels) != kind.labels:
            raise ValueError(f"task {t.name!r}: labels {t.labels} differ from finding kind {t.key!r} {kind.labels}")
        for label in t.labels:
            for w in label.split():
                if words.setdefault(w, t.name) != t.name:
                    raise ValueError(f"label word {w!r} is used by both {words[w]!r} and {t.name!r}")
        for tpl in t.templates:
            if "{modality}" not in tpl or "{area}" not in tpl:
                raise ValueError(f"template of {t.name!r} must mention {{modality}} and {{area}}: {tpl!r}")
    loc = design.localisation
    if loc is not None:  # its finding IS a classification label (the shared finding), so no uniqueness rule
        FINDINGS.get(loc.key)
        if len(loc.labels) != 1 or loc.labels[0] not in words:
            raise ValueError(f"the localisation task has one label, a finding some classification task names; "
                             f"got {loc.labels}")
        for tpl in loc.templates:
            if not all(p in tpl for p in ("{modality}", "{area}", "{finding}")):
                raise ValueError(f"localisation template must mention {{modality}}, {{area}} and {{finding}}: {tpl!r}")
    for s in design.triplets:
        tr = Triplet.parse(s, vocab)
        if tr.modality not in design.modalities or tr.area not in design.areas:
            raise ValueError(f"design triplet {s!r} uses an element outside the design")
        design.task(tr.task)


# -- CG structure --------------------------------------------------------------------------
class CGTarget(BaseModel):
    """A target triplet with its related (per direction) and unrelated partner counts."""

    triplet: str
    related: int  # triplets sharing one or two elements with the target
    unrelated: int  # triplets sharing no element
    directions: dict[str, int]  # number of (X, Y) training pairs per direction type


def direction_pairs(target: Triplet, pool: Iterable[Triplet]) -> dict[str, list[tuple[Triplet, Triplet]]]:
    """Training pairs that jointly supply the target's elements, per direction type.

    fixed-modality: (M, A, t') + (M, a', T);  fixed-area: (M, A, t') + (m', A, T);
    fixed-task: (M, a', T) + (m', A, T);       modality-area: (M, A, t') + (m', a', T).
    The target itself is never in a pair. Synthetic tasks are their own families.
    """
    M, A, T = target.modality, target.area, target.task
    pool = [p for p in pool if p != target]
    ma = [p for p in pool if p.modality == M and p.area == A and p.task != T]
    mt = [p for p in pool if p.modality == M and p.area != A and p.task == T]
    at = [p for p in pool if p.modality != M and p.area == A and p.task == T]
    t_only = [p for p in pool if p.modality != M and p.area != A and p.task == T]
    return {
        "fixed-modality": list(itertools.product(ma, mt)),
        "fixed-area": list(itertools.product(ma, at)),
        "fixed-task": list(itertools.product(mt, at)),
        "modality-area": list(itertools.product(ma, t_only)),
    }


def _shared(a: Triplet, b: Triplet) -> int:
    return (a.modality == b.modality) + (a.area == b.area) + (a.task == b.task)


def cg_target(target: Triplet, pool: list[Triplet]) -> CGTarget:
    others = [p for p in pool if p != target]
    return CGTarget(
        triplet=str(target),
        related=sum(1 for p in others if _shared(target, p) > 0),
        unrelated=sum(1 for p in others if _shared(target, p) == 0),
        directions={k: len(v) for k, v in direction_pairs(target, others).items()},
    )


def cg_targets(triplets: list[str] | None = None, min_directions: int = 1) -> list[CGTarget]:
    """Good CG targets: triplets with unrelated partners and related pairs in at least
    ``min_directions`` direction types, best covered first (ties in triplet order)."""
    design = load_design()
    v = design.vocab()
    pool = [Triplet.parse(s, v) for s in (triplets if triplets is not None else design.triplets)]
    out = [cg_target(t, pool) for t in pool]
    good = [c for c in out if c.unrelated > 0 and sum(n > 0 for n in c.directions.values()) >= min_directions]
    return sorted(good, key=lambda c: (-sum(n > 0 for n in c.directions.values()), -c.related, c.triplet))


def _score(pool: list[Triplet]) -> tuple[int, int]:
    full = sum(all(n > 0 for n in cg_target(t, pool).directions.values()) for t in pool)
    some = sum(any(n > 0 for n in cg_target(t, pool).directions.values()) for t in pool)
    return full, some


def choose_triplets(design: Design, n: int = 48, seed: int = 0, tries: int = 60) -> list[str]:
    """Deterministic sparse design: among ``tries`` seeded random n-subsets that use every
    modality, area and task at least 3 times, keep the one where most targets have related
    pairs in all four direction types."""
    v = design.vocab()
    universe = [Triplet.of(m, a, t.name, v) for m in design.modalities for a in design.areas for t in design.tasks]
    best: tuple[tuple[int, int], list[Triplet]] | None = None
    for k in range(tries):
        rng = np.random.default_rng([seed, k])
        pick = [universe[i] for i in sorted(rng.permutation(len(universe))[:n])]
        counts = [sum(getattr(p, f) == x for p in pick) for f, xs in
                  (("modality", design.modalities), ("area", design.areas), ("task", [t.name for t in design.tasks]))
                  for x in xs]
        if min(counts) < 3:
            continue
        score = _score(pick)
        if best is None or score > best[0]:
            best = (score, pick)
    if best is None:
        raise ValueError("no seeded subset covers every element; raise n or tries")
    return [str(t) for t in best[1]]
