"""Arm builders: one registered function per arm kind, each adding arms to a plan context.

Arm kinds (``--arms``), in the order they are built and written:
  zero-shot  the untrained model (the paper's Baseline)
  related    pairs (or triples) of subsets that jointly supply the target's modality,
             area and task, one arm per combination, grouped by direction type
  unrelated  the paper's Baseline+: ONE unrelated arm per related arm, drawn from the
             subsets sharing no element with the target and sized to exactly the related
             arm's n_train (``matched_with`` links the pair both ways). If the unrelated
             subsets hold fewer items, both arms are downsized to that size and the related
             arm records ``downsized_from`` (or the plan fails with ``strict_size``).
  leave-out  all-related, all-unrelated (CrossMed's zero-overlap), wo-modality, wo-area,
             wo-task (all-related minus the subsets sharing that element) and all-data
  low-data   k target training items, nested and label-balanced, with and without the
             all-related subsets (``low-data-k50``, ``low-data-k50+related``)
  single-task, multi-task  (``plan.kind: multi-task``, plan/multitask.py) the target subset
             alone; every in-distribution subset together
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from medmat.registry import Registry
from medmat.mat import Triplet
from medmat.plan.elements import DIRECTION_ORDER, DIRECTIONS, ELEMENTS, Candidate, enumerate_combos
from medmat.plan.manifest import Arm, SkippedArm, Source
from medmat.plan.sampling import Pool, StoreIndex, balanced_order, derive_seed, take_even
from medmat.records import VQAItem

if TYPE_CHECKING:
    from medmat.plan.config import PlanConfig


class PlanError(ValueError):
    """The plan's constraints cannot be met; the message says what is missing."""


@dataclass
class PlanContext:
    config: "PlanConfig"
    index: StoreIndex
    target: Triplet
    target_subset: str
    test: list[VQAItem]
    candidates: list[Candidate]  # every other subset, target-like ones removed
    arms: list[Arm] = field(default_factory=list)
    skipped: list[SkippedArm] = field(default_factory=list)
    related_sources: dict[str, tuple[tuple[Candidate, ...], list[Pool]]] = field(default_factory=dict)

    @property
    def test_ids(self) -> list[str]:
        return sorted(it.item_id for it in self.test)

    @property
    def test_hashes(self) -> set[str]:
        return {it.image_hash for it in self.test if it.image_hash}

    def pools(self, cands: list[Candidate] | tuple[Candidate, ...]) -> list[Pool]:
        return [self.index.pool(c.id, self.test_hashes) for c in cands]

    def usable(self, pred: Callable[[Candidate], bool]) -> list[Candidate]:
        return [c for c in self.candidates if pred(c) and c.n_train]


ArmBuilder = Callable[[PlanContext], None]
ARM_KINDS: Registry[ArmBuilder] = Registry("arm kind")
ARM_ORDER = ("zero-shot", "related", "unrelated", "controls", "leave-out", "low-data", "single-task", "multi-task")
MULTI_TASK_KINDS = frozenset({"zero-shot", "single-task", "multi-task"})  # the arms of ``kind: multi-task``
ARM_KINDS.add_lazy("single-task", "medmat.plan.multitask:single_task")
ARM_KINDS.add_lazy("multi-task", "medmat.plan.multitask:multi_task")


def _supplies(c: Candidate) -> list[str]:
    return [e for e in ELEMENTS if e in c.shares]


def source_arm(ctx: PlanContext, name: str, kind: str, cands, pools: list[Pool], total: int,
               **extra) -> Arm:
    """An arm training on ``total`` items drawn evenly from ``pools``."""
    seed = ctx.config.seed  # per-subset orders derive their own seeds from it
    chosen = take_even(pools, total, ctx.index)
    sources = [
        Source(subset=c.id, triplet=str(c.triplet), supplies=_supplies(c), n=len(chosen[p.subset]),
               dropped_leaks=p.dropped_leaks)
        for c, p in zip(cands, pools)
    ]
    train = sorted(it.item_id for items in chosen.values() for it in items)
    return Arm(
        name=name, kind=kind, train_subsets=sorted(c.id for c in cands), sources=sources, train=train,
        test=ctx.test_ids, n_train=len(train), seed=seed,
        dropped_leaks=sum(p.dropped_leaks for p in pools), **extra,
    )


@ARM_KINDS.register("zero-shot")
def _zero_shot(ctx: PlanContext) -> None:
    ctx.arms.append(Arm(name="zero-shot", kind="zero-shot", test=ctx.test_ids, n_train=0,
                        seed=ctx.config.seed, note="no training: the paper's Baseline"))


def _value(ctx: PlanContext, element: str) -> str:
    return getattr(ctx.target, element)


def missing_related(ctx: PlanContext, directions: list[str], short: bool = False) -> str:
    """Why no related combination exists: which element nobody supplies, or which shapes lack."""
    rel = ctx.usable(lambda c: c.related)
    for e in ELEMENTS:
        if not any(e in c.shares for c in rel):
            return (f"no subset other than the target (with training items) supplies its {e} "
                    f"{_value(ctx, e)!r}, so no related combination for {ctx.target} exists")
    need = []
    for d in directions:
        lacking = [p for p in DIRECTIONS.get(d).parts if not any(c.shares == p for c in rel)]
        shapes = " and ".join("{" + ", ".join(e for e in ELEMENTS if e in p) + "}" for p in lacking)
        need.append(f"{d} lacks a subset sharing exactly {shapes}")
    if short:
        return "; ".join(need)
    return f"no related combination for {ctx.target} of the direction types asked for: " + "; ".join(need)


@ARM_KINDS.register("related")
def _related(ctx: PlanContext) -> None:
    directions = list(ctx.config.directions or DIRECTION_ORDER)
    rel = ctx.usable(lambda c: c.related)
    budget = ctx.config.train_size
    for d in directions:
        combos = enumerate_combos(rel, d, ctx.config.max_per_direction)
        if not combos:
            ctx.skipped.append(SkippedArm(name=f"related-{d}", reason=missing_related(ctx, [d], short=True)))
        for i, combo in enumerate(combos, 1):
            name = f"related-{d}-{i}"
            pools = ctx.pools(combo)
            avail = sum(len(p.items) for p in pools)
            if avail == 0:
                reason = "every training item of its sources shows a test image"
                ctx.skipped.append(SkippedArm(name=name, reason=reason))
                continue
            ctx.related_sources[name] = (combo, pools)
            ctx.arms.append(source_arm(ctx, name, "related", combo, pools,
                                       min(avail, budget) if budget else avail, direction=d))
    if not any(a.kind == "related" for a in ctx.arms):
        raise PlanError(missing_related(ctx, directions))


def _replace(ctx: PlanContext, arm: Arm) -> None:
    """Put ``arm`` in place of the arm of the same name (keeps the written order)."""
    i = next(i for i, a in enumerate(ctx.arms) if a.name == arm.name)
    ctx.arms[i] = arm


@ARM_KINDS.register("unrelated")
def _unrelated(ctx: PlanContext) -> None:
    related = [a for a in ctx.arms if a.kind == "related"]
    if not related:
        raise PlanError("unrelated (Baseline+) arms are matched to related arms; add 'related' to --arms")
    cands = ctx.usable(lambda c: c.unrelated)
    if not cands:
        raise PlanError(f"no subset shares no element with {ctx.target} (modality {ctx.target.modality!r}, "
                        f"area {ctx.target.area!r}, task family of {ctx.target.task!r}); unrelated "
                        "(Baseline+) arms need at least one such subset with training items")
    pools = ctx.pools(cands)
    avail = sum(len(p.items) for p in pools)
    if avail == 0:
        raise PlanError("every training item of the unrelated subsets shows a test image of the target")
    for arm in related:
        n = arm.n_train
        if avail < n:
            if ctx.config.strict_size:
                raise PlanError(f"arm {arm.name} trains on {n} items but the unrelated subsets hold only "
                                f"{avail} (after cap and leak removal); without --strict-size both are downsized")
            combo, rpools = ctx.related_sources[arm.name]
            smaller = source_arm(ctx, arm.name, "related", combo, rpools, avail, direction=arm.direction,
                                 downsized_from=n, note=f"downsized from {n} to match the unrelated items available")
            _replace(ctx, smaller)
            arm, n = smaller, avail
        uname = "unrelated-" + arm.name.removeprefix("related-")
        _replace(ctx, arm.model_copy(update={"matched_with": uname}))
        ctx.arms.append(source_arm(ctx, uname, "unrelated", cands, pools, n, matched_with=arm.name,
                                   downsized_from=arm.downsized_from))


@ARM_KINDS.register("controls")
def _controls(ctx: PlanContext) -> None:
    """Per related arm: ``related-shuffled-*`` (its items, answers permuted within each
    subset) and ``unrelated-vocab-*`` (its matched unrelated items, with the target's label
    words as options and random answers); see plan/controls.py."""
    related = [a for a in ctx.arms if a.kind == "related"]
    unrelated = {a.name: a for a in ctx.arms if a.kind == "unrelated"}
    if not related or not unrelated:
        raise PlanError("control arms copy related and unrelated arms; add 'related' and 'unrelated' to --arms")
    for arm in related:
        tail = arm.name.removeprefix("related-")
        copy = dict(test=arm.test, seed=arm.seed, direction=None, matched_with=None, downsized_from=None,
                    controls=arm.name)
        ctx.arms.append(arm.model_copy(update=dict(
            copy, name=f"related-shuffled-{tail}", kind="related-shuffled", transform="shuffle-answers",
            note="the related items with answers permuted within each subset: label words, no image-label link")))
        partner = unrelated.get(arm.matched_with or "")
        if partner is not None:
            ctx.arms.append(partner.model_copy(update=dict(
                copy, name=f"unrelated-vocab-{tail}", kind="unrelated-vocab", transform="target-vocab",
                controls=partner.name,
                note="the matched unrelated images, the target's label words as options, random answers")))


LEAVE_OUT: dict[str, tuple[str, Callable[[Candidate], bool], str]] = {
    "all-related": ("leave-out", lambda c: c.related, "every subset sharing at least one element"),
    "all-unrelated": ("leave-out", lambda c: c.unrelated, "every subset sharing no element (zero overlap)"),
    "wo-modality": ("leave-out", lambda c: c.related and "modality" not in c.shares,
                    "all-related minus the subsets sharing the modality"),
    "wo-area": ("leave-out", lambda c: c.related and "area" not in c.shares,
                "all-related minus the subsets sharing the area"),
    "wo-task": ("leave-out", lambda c: c.related and "task" not in c.shares,
                "all-related minus the subsets sharing the task family"),
    "all-data": ("all-data", lambda c: True, "every subset except the target"),
}


@ARM_KINDS.register("leave-out")
def _leave_out(ctx: PlanContext) -> None:
    for name, (kind, pred, doc) in LEAVE_OUT.items():
        cands = ctx.usable(pred)
        pools = ctx.pools(cands)
        total = sum(len(p.items) for p in pools)
        if total == 0:
            ctx.skipped.append(SkippedArm(name=name, reason=f"no training items in {doc}"))
            continue
        ctx.arms.append(source_arm(ctx, name, kind, cands, pools, total, note=doc))


@ARM_KINDS.register("low-data")
def _low_data(ctx: PlanContext) -> None:
    tpool = ctx.index.pool(ctx.target_subset, ctx.test_hashes)
    order = balanced_order(tpool.items, derive_seed(ctx.config.seed, "low-data", ctx.target_subset))
    rel = ctx.usable(lambda c: c.related)
    rpools = ctx.pools(rel)
    related_items = [it for p in rpools for it in p.items]
    for k in ctx.config.low_data_k:
        names = (f"low-data-k{k}", f"low-data-k{k}+related")
        if k > len(order):
            for n in names:
                ctx.skipped.append(SkippedArm(name=n, reason=(
                    f"the target has {len(order)} training items after cap and leak removal, fewer than k={k}")))
            continue
        mine = order[:k]
        own = Source(subset=ctx.target_subset, triplet=str(ctx.target), supplies=list(ELEMENTS), n=k,
                     dropped_leaks=tpool.dropped_leaks)
        base = dict(kind="low-data", k=k, test=ctx.test_ids, seed=ctx.config.seed)
        ids = sorted(it.item_id for it in mine)
        ctx.arms.append(Arm(name=names[0], train_subsets=[ctx.target_subset] if k else [],
                            sources=[own] if k else [], train=ids, n_train=k,
                            dropped_leaks=tpool.dropped_leaks if k else 0, **base))
        if not related_items:
            ctx.skipped.append(SkippedArm(name=names[1], reason="no related subset with training items"))
            continue
        both = sorted(ids + [it.item_id for it in related_items])
        srcs = ([own] if k else []) + [
            Source(subset=c.id, triplet=str(c.triplet), supplies=_supplies(c), n=len(p.items),
                   dropped_leaks=p.dropped_leaks) for c, p in zip(rel, rpools)]
        ctx.arms.append(Arm(name=names[1], train_subsets=sorted({s.subset for s in srcs}), sources=srcs,
                            train=both, n_train=len(both),
                            dropped_leaks=sum(p.dropped_leaks for p in rpools) + tpool.dropped_leaks,
                            note="k target items plus every related subset", **base))
