"""Plan one target: resolve it in the store, build the requested arms, check invariants.

``plan_target`` is the library entry point behind ``medmat plan``; it never writes files
(``save_manifest`` does), so the whole-study planner and tests can call it freely.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medmat.registry import UnknownNameError
from medmat.plan.arms import ARM_KINDS, ARM_ORDER, PlanContext, PlanError
from medmat.plan.elements import DIRECTION_ORDER, DIRECTIONS, FULL, Candidate, did_you_mean, shares, to_triplet
from medmat.plan.invariants import check_manifest
from medmat.plan.manifest import Manifest
from medmat.plan.sampling import StoreIndex
from medmat.store import VQAStore

DEFAULT_ARMS = ("zero-shot", "related", "unrelated")
DEFAULT_KS = (0, 50, 100, 200, 500)


class PlanConfig(BaseModel):
    """Planner options (defaults < CLI flags), recorded in the manifest's ``settings``.

    arms               arm kinds to write (see medmat.plan.arms)
    directions         related direction types to enumerate (None: all seven)
    max_per_direction  related combinations kept per type, larger subsets first
    cap                per-subset training cap, label-balanced (the paper's 3,000)
    train_size         optional budget for each related arm (sources shared evenly)
    ks                 low-data target item counts
    strict_size        fail instead of downsizing when unrelated items are too few
    """

    model_config = ConfigDict(extra="forbid")
    arms: list[str] = Field(default_factory=lambda: list(DEFAULT_ARMS))
    directions: list[str] | None = None
    max_per_direction: int | None = Field(default=3, ge=1)
    cap: int | None = Field(default=3000, ge=1)
    train_size: int | None = Field(default=None, ge=1)
    ks: list[int] = Field(default_factory=lambda: list(DEFAULT_KS))
    strict_size: bool = False
    seed: int = 0

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[str]) -> list[str]:
        for name in v:
            _known(ARM_KINDS, name)
        return [a for a in ARM_ORDER if a in v]

    @field_validator("directions")
    @classmethod
    def _dirs(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        for name in v:
            _known(DIRECTIONS, name)
        return [d for d in DIRECTION_ORDER if d in v]  # flag order never changes the file

    @field_validator("ks")
    @classmethod
    def _ks(cls, v: list[int]) -> list[int]:
        if any(k < 0 for k in v):
            raise ValueError("low-data k values must be >= 0")
        return sorted(set(v))


def _known(registry, name: str) -> None:
    try:
        registry.get(name)
    except UnknownNameError as e:  # pydantic reports ValueErrors, not KeyErrors
        raise ValueError(str(e)) from None


def candidates_for(index: StoreIndex, target, exclude: str) -> tuple[list[Candidate], list[str]]:
    """Every other subset seen from ``target``, and the ids dropped as target-like."""
    cands, like = [], []
    for sid, info in sorted(index.infos.items()):
        if sid == exclude:
            continue
        trip = to_triplet(info.triplet)
        sh = shares(trip, target)
        if sh == FULL:
            like.append(sid)
            continue
        cands.append(Candidate(sid, trip, sh, len(index.capped(sid)), len(index.split(sid, "test")),
                               list(info.datasets)))
    return cands, like


def resolve_target(index: StoreIndex, target: str) -> tuple[object, str]:
    """The target triplet and its subset id; unknown targets get a did-you-mean."""
    try:
        trip = to_triplet(target)
    except ValueError as e:
        raise PlanError(str(e)) from None
    known = {sid: to_triplet(info.triplet) for sid, info in index.infos.items()}
    hits = sorted(sid for sid, t in known.items() if t == trip)
    if not hits:
        raise PlanError(f"target {target!r} is not a subset of the store {index.store.root}"
                        + did_you_mean(str(trip), sorted({str(t) for t in known.values()})))
    return trip, hits[0]


def plan_target(store: VQAStore, target: str, config: PlanConfig | None = None,
                manifest_path: str | os.PathLike | None = None, index: StoreIndex | None = None) -> Manifest:
    """The manifest for one target (not written). ``manifest_path`` makes ``store`` relative."""
    config = config or PlanConfig()
    index = index or StoreIndex(store, config.cap, config.seed)
    trip, tsub = resolve_target(index, target)
    test = index.split(tsub, "test")
    if not test:
        raise PlanError(f"target {trip} (subset {tsub}) has no test items; every arm is tested on them")
    cands, like = candidates_for(index, trip, tsub)
    ctx = PlanContext(config=config, index=index, target=trip, target_subset=tsub, test=test, candidates=cands)
    for kind in config.arms:
        ARM_KINDS.get(kind)(ctx)
    settings = config.model_dump(mode="json")
    settings["excluded_as_target"] = like
    manifest = Manifest(
        store=store_ref(store.root, manifest_path), store_fingerprint=index.fingerprint, target=str(trip),
        target_subset=tsub, seed=config.seed, cap=config.cap, settings=settings, arms=ctx.arms,
        skipped=ctx.skipped,
    )
    problems = check_manifest(manifest, store, index=index)
    if problems:  # a planner bug, never a user error: refuse to write such a plan
        raise PlanError("the plan breaks its own invariants:\n  - " + "\n  - ".join(problems))
    return manifest


def store_ref(root: Path, manifest_path: str | os.PathLike | None) -> str:
    """The store folder as written in a file at ``manifest_path``: relative, so both can move together."""
    root = Path(root).resolve()
    if manifest_path is None:
        return root.as_posix()
    rel = os.path.relpath(root, Path(manifest_path).resolve().parent)
    return Path(rel).as_posix()
