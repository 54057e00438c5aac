"""Classification and localisation subsets in one plan (``plan.cross_kind``).

* **Kind of a subset.** ``localisation`` when its items ask about boxes (``box-choice``,
  ``grounding``), else ``classification`` (choice items: classification, presence, count).
* **The task element across kinds.** A localisation subset and a classification subset
  share the task when they share a finding: a label the localisation subset draws boxes
  of is one of the classification subset's labels (the synthetic Lesion Localisation finds
  'abnormal', a label of Lesion Presence; Kvasir-SEG's 'polyp' and a polyp/normal
  classification set). Within a kind the task is compared by family, as always. So a
  related cross-kind arm shares the modality with one source and the area with the other
  and supplies the task through the shared finding, exactly the paper's direction types;
  a localisation subset at the target's own modality and area with its finding is
  target-like (never trained on).
* **Which sources.** ``cross_kind`` ``cls-det``: targets are localisation subsets, related
  sources classification subsets; ``det-cls`` the reverse; ``both``: either kind of target,
  related sources of the other kind. Unrelated (Baseline+) arms draw, as always, from the
  subsets sharing no element with the target (of any kind: in the synthetic world every
  localisation subset shares the finding of a presence target, so its unrelated arm is
  made of the classification tasks of other modalities and areas). Without ``cross_kind``
  the kind of a subset plays no part in a plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from medmat.plan.elements import FULL, shares, to_triplet

if TYPE_CHECKING:
    from medmat.plan.sampling import StoreIndex

CrossKind = Literal["cls-det", "det-cls", "both"]
CLASSIFICATION, LOCALISATION = "classification", "localisation"
BOX_KINDS = frozenset({"box-choice", "grounding"})

# cross_kind -> (target kinds, related source kind of a target of each kind)
TARGET_KINDS: dict[str, frozenset[str]] = {
    "cls-det": frozenset({LOCALISATION}), "det-cls": frozenset({CLASSIFICATION}),
    "both": frozenset({CLASSIFICATION, LOCALISATION}),
}
OTHER = {CLASSIFICATION: LOCALISATION, LOCALISATION: CLASSIFICATION}


def subset_kind(index: "StoreIndex", subset: str) -> str:
    kinds = index.memo.setdefault("subset-kinds", {})
    if subset not in kinds:
        items = [it for (sid, _), group in index.groups.items() if sid == subset for it in group[:1]]
        kinds[subset] = LOCALISATION if any(it.kind in BOX_KINDS for it in items) else CLASSIFICATION
    return kinds[subset]


def findings(index: "StoreIndex", subset: str) -> set[str]:
    """Labels a localisation subset asks about (its items' captions), cached."""
    memo = index.memo.setdefault("subset-findings", {})
    if subset not in memo:
        memo[subset] = {it.caption for (sid, _), group in index.groups.items() if sid == subset for it in group}
    return memo[subset]


def shared_elements(index: "StoreIndex", subset: str, target_subset: str) -> frozenset[str]:
    """What ``subset`` shares with the target: modality, area, and the task by family or,
    across kinds, by a shared finding (module doc)."""
    a, b = to_triplet(index.infos[subset].triplet), to_triplet(index.infos[target_subset].triplet)
    out = set(shares(a, b))
    ka, kb = subset_kind(index, subset), subset_kind(index, target_subset)
    if ka != kb:
        det, cls = (subset, target_subset) if ka == LOCALISATION else (target_subset, subset)
        out.discard("task")
        if findings(index, det) & set(index.infos[cls].labels):
            out.add("task")
    return frozenset(out)


def is_target_kind(index: "StoreIndex", subset: str, cross_kind: str | None) -> bool:
    return cross_kind is None or subset_kind(index, subset) in TARGET_KINDS[cross_kind]


def keeps_source(index: "StoreIndex", subset: str, target_subset: str, shared: frozenset[str],
                 cross_kind: str | None) -> bool:
    """Whether a candidate stays in a plan: related sources must be of the other kind."""
    if cross_kind is None or not shared or shared == FULL:
        return True
    return subset_kind(index, subset) == OTHER[subset_kind(index, target_subset)]


ARROWS = {LOCALISATION: "cls->det", CLASSIFICATION: "det->cls"}  # target kind -> the transfer it measures


def cross_direction(direction: str, target_kind: str) -> str:
    """A cross-kind related arm's direction: its type and the transfer, e.g. 'fixed-task
    (cls->det)', so reports group the two transfers apart."""
    return f"{direction} ({ARROWS[target_kind]})"


def base_direction(direction: str) -> str:
    """The direction type of a (possibly cross-kind) direction name."""
    return direction.split(" (", 1)[0]
