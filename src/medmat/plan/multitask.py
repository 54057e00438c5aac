"""Multi-task vs single-task (``plan.kind: multi-task``): the experiment Med-MAT runs before
its CG tables, in the same manifests as every other plan.

One manifest per subset (its ``target``: the subset tested), tested on its test items:

  zero-shot    the untrained model (the paper's "untrained")
  single-task  the subset's own capped training items (in-distribution subsets only)
  multi-task   every in-distribution subset's capped training items together: the SAME item
               list in every manifest, so a study trains it once (training is keyed by content)

The division is the paper's rule, stated in every manifest (``settings.role``): a subset
whose training items number fewer than the cap is *out-of-distribution* (never trained on,
only tested); the others are *in-distribution*. Both training arm kinds train on their
target on purpose (``plan/invariants.py`` TARGET_ALLOWED); the multi-task arm drops every
training item whose image is a test image of ANY subset, so it is one list for all targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medmat.plan.arms import PlanError
from medmat.plan.elements import ELEMENTS, shares, to_triplet
from medmat.plan.manifest import Arm, SkippedArm, Source

if TYPE_CHECKING:
    from medmat.plan.arms import PlanContext
    from medmat.plan.sampling import StoreIndex

IN, OUT = "in-distribution", "out-of-distribution"
KINDS = ("zero-shot", "single-task", "multi-task")
RULE = "a subset with fewer training items than the cap is out-of-distribution (Med-MAT's rule)"


class DivisionError(PlanError):
    """The in-distribution / out-of-distribution division cannot be made."""


def division(index: "StoreIndex") -> dict[str, dict]:
    """subset -> {role, train_items (before the cap), triplet}, by the paper's rule."""
    cap = index.cap
    if not cap:
        raise DivisionError("a multi-task plan divides subsets by the cap (fewer training items than the cap: "
                            "out-of-distribution), so it needs a cap (plan.cap > 0, or a store built with one)")
    out = {}
    for sid in sorted(index.infos):
        n = len(index.groups.get((sid, "train"), []))
        out[sid] = {"role": IN if n >= cap else OUT, "train_items": n, "triplet": index.infos[sid].triplet}
    return out


def _division(ctx: "PlanContext") -> dict[str, dict]:
    if "multitask-division" not in ctx.index.memo:
        ctx.index.memo["multitask-division"] = division(ctx.index)
    return ctx.index.memo["multitask-division"]  # type: ignore[return-value]


def _all_test_hashes(index: "StoreIndex") -> set[str]:
    if "all-test-hashes" not in index.memo:
        index.memo["all-test-hashes"] = {it.image_hash for (sid, split), items in index.groups.items()
                                         if split == "test" for it in items if it.image_hash}
    return index.memo["all-test-hashes"]  # type: ignore[return-value]


def _source(ctx: "PlanContext", sid: str, n: int, dropped: int) -> Source:
    trip = to_triplet(ctx.index.infos[sid].triplet)
    sh = shares(trip, ctx.target)
    return Source(subset=sid, triplet=str(trip), supplies=[e for e in ELEMENTS if e in sh], n=n,
                  dropped_leaks=dropped)


def single_task(ctx: "PlanContext") -> None:
    """The target subset's own capped training items; an out-of-distribution subset is skipped."""
    info = _division(ctx)[ctx.target_subset]
    if info["role"] == OUT:
        ctx.skipped.append(SkippedArm(name="single-task", reason=(
            f"out-of-distribution: {info['train_items']} training items, fewer than the cap {ctx.index.cap}")))
        return
    pool = ctx.index.pool(ctx.target_subset, ctx.test_hashes)
    train = sorted(it.item_id for it in pool.items)
    ctx.arms.append(Arm(name="single-task", kind="single-task", train_subsets=[ctx.target_subset],
                        sources=[_source(ctx, ctx.target_subset, len(train), pool.dropped_leaks)], train=train,
                        test=ctx.test_ids, n_train=len(train), seed=ctx.config.seed,
                        dropped_leaks=pool.dropped_leaks, note="the target subset alone (in-distribution)"))


def multi_task(ctx: "PlanContext") -> None:
    """Every in-distribution subset together (the same items in every manifest of the plan)."""
    div = _division(ctx)
    ids = [sid for sid, info in div.items() if info["role"] == IN]
    if not ids:
        ctx.skipped.append(SkippedArm(name="multi-task", reason=f"no in-distribution subset ({RULE})"))
        return
    hashes = _all_test_hashes(ctx.index)
    sources, train, dropped = [], [], 0
    for sid in ids:
        pool = ctx.index.pool(sid, hashes)
        sources.append(_source(ctx, sid, len(pool.items), pool.dropped_leaks))
        train += [it.item_id for it in pool.items]
        dropped += pool.dropped_leaks
    train.sort()
    role = div[ctx.target_subset]["role"]
    ctx.arms.append(Arm(name="multi-task", kind="multi-task", train_subsets=ids, sources=sources, train=train,
                        test=ctx.test_ids, n_train=len(train), seed=ctx.config.seed, dropped_leaks=dropped,
                        note=f"every in-distribution subset together; the target is {role}"))


def partners(div: dict[str, dict], subset: str) -> dict[str, list[str]]:
    """Per MAT element, the OTHER in-distribution subsets sharing it with ``subset`` (the
    multi-task arm's sources a CG reading says should help it)."""
    me = to_triplet(div[subset]["triplet"])
    out: dict[str, list[str]] = {e: [] for e in ELEMENTS}
    for sid, info in div.items():
        if sid == subset or info["role"] != IN:
            continue
        for e in shares(to_triplet(info["triplet"]), me):
            out[e].append(sid)
    return out
