"""Plan one target: resolve it in the store, build the requested arms, check invariants.

``plan_target`` plans one target and never writes files; the plan stage's operation,
``medmat.plan.targets.plan_targets``, calls it for every target and writes the manifests.
"""

from __future__ import annotations

import os
from pathlib import Path

from medmat.plan.arms import ARM_KINDS, PlanContext, PlanError
from medmat.plan.config import PlanConfig
from medmat.plan.elements import FULL, Candidate, did_you_mean, shares, to_triplet
from medmat.plan.invariants import check_manifest
from medmat.plan.manifest import Manifest
from medmat.plan.sampling import StoreIndex
from medmat.store import VQAStore


def candidates_for(index: StoreIndex, target, exclude: str, cross_kind: str | None = None
                   ) -> tuple[list[Candidate], list[str]]:
    """Every other subset seen from ``target`` (subset ``exclude``), and the ids dropped as
    target-like. With both kinds in the store the task element is shared across kinds by a
    shared finding, and ``cross_kind`` keeps only related sources of the other kind (plan/kinds.py)."""
    from medmat.plan.kinds import keeps_source, shared_elements

    cands, like = [], []
    for sid, info in sorted(index.infos.items()):
        if sid == exclude:
            continue
        trip = to_triplet(info.triplet)
        sh = shared_elements(index, sid, exclude) if exclude in index.infos else shares(trip, target)
        if not keeps_source(index, sid, exclude, sh, cross_kind):
            continue
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
    config = (config or PlanConfig()).for_store(store)
    index = index or StoreIndex(store, config.cap_value, config.seed)
    trip, tsub = resolve_target(index, target)
    test = index.split(tsub, "test")
    if not test:
        raise PlanError(f"target {trip} (subset {tsub}) has no test items; every arm is tested on them")
    from medmat.plan.kinds import is_target_kind, subset_kind

    if not is_target_kind(index, tsub, config.cross_kind):
        raise PlanError(f"target {trip} is a {subset_kind(index, tsub)} subset; cross_kind {config.cross_kind} "
                        "plans the other kind's targets")
    cands, like = candidates_for(index, trip, tsub, config.cross_kind)
    ctx = PlanContext(config=config, index=index, target=trip, target_subset=tsub, test=test, candidates=cands)
    for kind in config.arms:
        ARM_KINDS.get(kind)(ctx)
    if config.cross_kind is not None:  # label the transfer in the related arms' direction
        from medmat.plan.kinds import cross_direction

        ctx.arms = [a.model_copy(update={"direction": cross_direction(a.direction, subset_kind(index, tsub))})
                    if a.direction else a for a in ctx.arms]
    settings = config.settings()
    settings["excluded_as_target"] = like
    if config.kind == "multi-task":  # the subset's side of the paper's division (plan/multitask.py)
        from medmat.plan.multitask import division

        info = index.memo.get("multitask-division") or division(index)
        settings.update(role=info[tsub]["role"], train_items=info[tsub]["train_items"])
    manifest = Manifest(
        store=store_ref(store.root, manifest_path), store_fingerprint=index.fingerprint, target=str(trip),
        target_subset=tsub, seed=config.seed, cap=config.cap_value, settings=settings, arms=ctx.arms,
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
