"""The plan stage's one operation, :func:`plan_targets` (``medmat plan`` and ``medmat run``):
one manifest per target plus an index (the paper's table).

A target is eligible when it has test items, at least one related combination (of the
direction types asked for) and at least one unrelated subset with training items; the
index records every other subset with the reason it was left out. Each manifest is
written atomically, so an interrupted study leaves whole files; re-running rewrites the
same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from medmat.io import slug
from medmat.plan.arms import PlanError
from medmat.plan.config import PlanConfig
from medmat.plan.elements import DIRECTION_ORDER, enumerate_combos, to_triplet
from medmat.plan.kinds import base_direction
from medmat.plan.manifest import Manifest, ManifestError, load_manifest, save_data, save_manifest
from medmat.plan.planner import candidates_for, plan_target, resolve_target, store_ref
from medmat.plan.rows import assign_directions, draw_targets
from medmat.plan.sampling import StoreIndex
from medmat.runtime import gc_paused
from medmat.store import VQAStore


PER_TARGET_SETTINGS = ("excluded_as_target", "role", "train_items")  # what plan_target adds to a manifest's settings


def eligibility(index: StoreIndex, subset: str, config: PlanConfig) -> str | None:
    """None if ``subset`` can be a CG target, else the reason it cannot."""
    info = index.infos[subset]
    trip = to_triplet(info.triplet)
    if not index.split(subset, "test"):
        return "no test items"
    if config.kind == "multi-task":  # every subset is tested (plan/multitask.py)
        return None
    from medmat.plan.kinds import is_target_kind, subset_kind

    if not is_target_kind(index, subset, config.cross_kind):
        return f"a {subset_kind(index, subset)} subset (cross_kind {config.cross_kind})"
    cands, _ = candidates_for(index, trip, subset, config.cross_kind)
    rel = [c for c in cands if c.related and c.n_train]
    if not any(enumerate_combos(rel, d, 1) for d in (config.directions or DIRECTION_ORDER)):
        return "no related combination"
    if not any(c.unrelated and c.n_train for c in cands):
        return "no unrelated subset"
    return None


def eligible_targets(store: VQAStore, config: PlanConfig | None = None,
                     index: StoreIndex | None = None) -> tuple[list[str], dict[str, str]]:
    """(eligible target triplets, {triplet: reason} for the rest), one per subset, sorted by subset id."""
    config = (config or PlanConfig()).for_store(store)
    index = index or StoreIndex(store, config.cap_value, config.seed)
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
    return f"{subset}-{slug(target)}"


def _reusable(path: Path, index: StoreIndex, config: PlanConfig) -> Manifest | None:
    """An existing manifest planned from the same store with the same settings, if any."""
    if not path.is_file():
        return None
    try:
        old = load_manifest(path)
    except ManifestError:
        return None  # unreadable or outdated: plan again and overwrite
    settings = {k: v for k, v in old.settings.items() if k not in PER_TARGET_SETTINGS}
    if old.store_fingerprint == index.fingerprint and settings == config.settings():
        return old
    return None


@dataclass
class PlanOutcome:
    """What :func:`plan_targets` wrote: the index (as data) and the manifest files."""

    index: dict[str, Any]
    manifests: list[Path]
    index_path: Path | None = None


def plan_targets(store: VQAStore, config: PlanConfig, out_dir: str | Path | None = None, fmt: str = "yaml",
                 manifest_file: str | Path | None = None, require_all: bool = False,
                 on_target: Callable[[int, int, str], None] | None = None, resume: bool = True) -> PlanOutcome:
    """Plan ``config.targets`` (or, with ``all_targets``, every eligible one); write the manifests.

    Into ``out_dir``: one manifest per target (``<subset>-<target>.<fmt>``) and the index
    ``study.<fmt>``; or, for a single target, exactly ``manifest_file`` (no index). A named
    target that cannot be planned is recorded under ``skipped`` with the planner's
    message (``require_all``: a PlanError instead); eligibility misses of ``all_targets``
    are recorded the same way. With ``resume`` an existing manifest of the same store and
    settings is kept (planning is deterministic, so it would be rewritten byte for byte),
    which makes an interrupted study cheap to finish.
    """
    try:
        config.check_targets()
    except ValueError as e:
        raise PlanError(str(e)) from None
    if fmt not in ("yaml", "json"):
        raise PlanError(f"manifest format is yaml or json, not {fmt!r}")
    if (manifest_file is None) == (out_dir is None):
        raise PlanError("give an output folder, or one manifest file for a single target")
    if manifest_file is not None and (config.all_targets or len(config.targets) != 1):
        raise PlanError("one manifest file holds one target: give an output folder for several")
    config = config.for_store(store)
    with gc_paused(old=True):  # a store's worth of items, and no reference cycles (runtime.gc_paused)
        index = StoreIndex(store, config.cap_value, config.seed)
        targets, skipped = list(config.targets), []
        if config.all_targets:
            targets, why = eligible_targets(store, config, index)
            skipped += [{"target": t, "reason": r} for t, r in why.items()]
            drawn = draw_targets(targets, config)
            skipped += [{"target": t, "reason": f"not in the seeded draw of {config.sample_targets} targets"}
                        for t in targets if t not in drawn]
            targets = drawn
        per_target = {t: config for t in targets}
        if config.rows_per_target is not None:
            subsets = {t: resolve_target(index, t)[1] for t in targets}
            for t, dirs in assign_directions(index, subsets, config).items():
                per_target[t] = config.model_copy(update={"directions": dirs})
        rows, paths = _plan_each(store, per_target, index, targets, skipped, out_dir, fmt, manifest_file,
                                 require_all, on_target, resume)
    if on_target:
        on_target(len(targets), len(targets), "")
    study = {
        "version": 1, "store": store_ref(store.root, (Path(out_dir) if out_dir else Path(".")) / f"study.{fmt}"),
        "store_fingerprint": index.fingerprint, "seed": config.seed,
        "settings": config.settings(), "targets": rows, "skipped": skipped,
    }
    if config.kind == "multi-task":
        from medmat.plan.multitask import RULE, division

        study["division"] = {"rule": RULE, "cap": config.cap_value, "subsets": division(index)}
    index_path = None
    if out_dir is not None:
        index_path = Path(out_dir) / f"study.{fmt}"
        save_data(study, index_path)
    return PlanOutcome(study, paths, index_path)


def _plan_each(store: VQAStore, configs: dict[str, PlanConfig], index: StoreIndex, targets: list[str],
               skipped: list[dict],
               out_dir: str | Path | None, fmt: str, manifest_file: str | Path | None, require_all: bool,
               on_target: Callable[[int, int, str], None] | None, resume: bool) -> tuple[list[dict], list[Path]]:
    """Plan and write each target with its config (see :func:`plan_targets`); the index rows
    and the files written."""
    rows, paths = [], []
    for i, target in enumerate(targets):
        config = configs[target]
        if on_target:
            on_target(i, len(targets), target)
        try:
            trip, subset = resolve_target(index, target)
            path = Path(manifest_file) if manifest_file is not None else \
                Path(out_dir) / f"{manifest_name(str(trip), subset)}.{fmt}"  # type: ignore[arg-type]
            manifest = _reusable(path, index, config) if resume else None
            if manifest is None:
                manifest = plan_target(store, target, config, manifest_path=path, index=index)
                save_manifest(manifest, path)
        except PlanError as e:
            if require_all:
                raise PlanError(f"target {target!r} cannot be planned: {e}") from None
            skipped.append({"target": target, "reason": str(e)})
            continue
        paths.append(path)
        rows.append({
            "target": manifest.target, "subset": manifest.target_subset, "manifest": path.name,
            "directions": sorted({a.direction for a in manifest.arms if a.direction}, key=lambda d: (DIRECTION_ORDER.index(base_direction(d)), d)),
            "arms": [a.name for a in manifest.arms],
        })
    return rows, paths


def read_targets_file(path: str | Path) -> list[str]:
    """One triplet per line; blank lines and '#' comments ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]
