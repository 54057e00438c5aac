"""Whole-study planning: one manifest per eligible target plus an index (the paper's table).

A target is eligible when it has test items, at least one related combination (of the
direction types asked for) and at least one unrelated subset with training items; the
index records every other subset with the reason it was left out. Each manifest is
written atomically, so an interrupted study leaves whole files; re-running rewrites the
same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from medmat.plan.arms import PlanError
from medmat.plan.elements import DIRECTION_ORDER, enumerate_combos, to_triplet
from medmat.plan.manifest import Manifest, ManifestError, load_manifest, save_data, save_manifest
from medmat.plan.planner import PlanConfig, candidates_for, plan_target, resolve_target, store_ref
from medmat.plan.sampling import StoreIndex
from medmat.store import VQAStore


def eligibility(index: StoreIndex, subset: str, config: PlanConfig) -> str | None:
    """None if ``subset`` can be a CG target, else the reason it cannot."""
    info = index.infos[subset]
    trip = to_triplet(info.triplet)
    if not index.split(subset, "test"):
        return "no test items"
    cands, _ = candidates_for(index, trip, subset)
    rel = [c for c in cands if c.related and c.n_train]
    if not any(enumerate_combos(rel, d, 1) for d in (config.directions or DIRECTION_ORDER)):
        return "no related combination"
    if not any(c.unrelated and c.n_train for c in cands):
        return "no unrelated subset"
    return None


def eligible_targets(store: VQAStore, config: PlanConfig | None = None,
                     index: StoreIndex | None = None) -> tuple[list[str], dict[str, str]]:
    """(eligible target triplets, {triplet: reason} for the rest), one per subset, sorted by subset id."""
    config = config or PlanConfig()
    index = index or StoreIndex(store, config.cap, config.seed)
    ok, why = [], {}
    seen: set[str] = set()
    for sid in sorted(index.infos):
        trip = index.infos[sid].triplet
        if trip in seen:
            continue
        seen.add(trip)
        reason = eligibility(index, sid, config)
        if reason is None:
            ok.append(trip)
        else:
            why[trip] = reason
    return ok, why


def manifest_name(target: str, subset: str) -> str:
    """A file-system-safe name: the subset id plus the triplet, readable in a listing."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", target).strip("-").lower()
    return f"{subset}-{slug}"


def _reusable(path: Path, index: StoreIndex, config: PlanConfig) -> Manifest | None:
    """An existing manifest planned from the same store with the same settings, if any."""
    if not path.is_file():
        return None
    try:
        old = load_manifest(path)
    except ManifestError:
        return None  # unreadable or outdated: plan again and overwrite
    settings = {k: v for k, v in old.settings.items() if k != "excluded_as_target"}
    if old.store_fingerprint == index.fingerprint and settings == config.model_dump(mode="json"):
        return old
    return None


def plan_study(store: VQAStore, out_dir: str | Path, config: PlanConfig | None = None,
               targets: list[str] | None = None, fmt: str = "yaml",
               on_target: Callable[[int, int, str], None] | None = None, resume: bool = True) -> dict:
    """Plan ``targets`` (default: every eligible one) and write manifests + study index.

    Targets named explicitly that cannot be planned are recorded under ``skipped`` with
    the planner's message, never silently dropped. With ``resume`` an existing manifest
    of the same store and settings is kept (planning is deterministic, so it would be
    rewritten byte for byte anyway); this makes an interrupted study cheap to finish.
    """
    config = config or PlanConfig()
    out_dir = Path(out_dir)
    index = StoreIndex(store, config.cap, config.seed)
    skipped: list[dict] = []
    if targets is None:
        targets, why = eligible_targets(store, config, index)
        skipped += [{"target": t, "reason": r} for t, r in why.items()]
    rows = []
    for i, target in enumerate(targets):
        if on_target:
            on_target(i, len(targets), target)
        try:
            trip, subset = resolve_target(index, target)
            path = out_dir / f"{manifest_name(str(trip), subset)}.{fmt}"
            manifest = _reusable(path, index, config) if resume else None
            if manifest is None:
                manifest = plan_target(store, target, config, manifest_path=path, index=index)
                save_manifest(manifest, path)
        except PlanError as e:
            skipped.append({"target": target, "reason": str(e)})
            continue
        rows.append({
            "target": manifest.target, "subset": manifest.target_subset, "manifest": path.name,
            "directions": sorted({a.direction for a in manifest.arms if a.direction},
                                 key=DIRECTION_ORDER.index),
            "arms": [a.name for a in manifest.arms],
        })
    study = {
        "version": 1, "store": store_ref(store.root, out_dir / f"study.{fmt}"),
        "store_fingerprint": index.fingerprint, "seed": config.seed,
        "settings": config.model_dump(mode="json"), "targets": rows, "skipped": skipped,
    }
    save_data(study, out_dir / f"study.{fmt}")
    return study


def read_targets_file(path: str | Path) -> list[str]:
    """One triplet per line; blank lines and '#' comments ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]
