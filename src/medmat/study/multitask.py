"""The multi-task study's numbers (``plan.kind: multi-task``): the paper's table and the CG test.

Computed here from what the evaluator wrote, never in the report:

* per subset: zero-shot, single-task and multi-task accuracy (means over seeds), its gain
  (in-distribution: multi-task minus single-task; out-of-distribution: multi-task minus
  zero-shot, the paper's OOD comparison) with an interval resampling seeds, then the paired
  items within a seed, and the other in-distribution subsets sharing each MAT element with it;
* averages per role (in-distribution, out-of-distribution) with subsets x seeds intervals
  (subsets resampled, then seeds within each), beside the paper's averages;
* the association CG predicts: do subsets with more related partners (other in-distribution
  subsets sharing at least one element; fixed before any run as the primary test) gain more?
  Spearman's rho over subsets, a two-sided permutation p-value and a bootstrap interval.
  The same with partners counted per element is reported as descriptive.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from medmat.study.results import Association, Mean, MultiTaskSummary, ResultRow, SubsetRow

if TYPE_CHECKING:
    from medmat.study.aggregate import Collected

IN, OUT = "in-distribution", "out-of-distribution"
KINDS = ("zero-shot", "single-task", "multi-task")
COMPARED = {IN: "single-task", OUT: "zero-shot"}  # what multi-task is compared with, per role
N_PERM = 10_000


def paper_multitask() -> dict:
    """Med-MAT v1's multi-task table (averages, as reproduced by review sites)."""
    return {IN: {"subsets": 25, "zero-shot": 0.297, "single-task": 0.531, "multi-task": 0.798},
            OUT: {"subsets": 12, "zero-shot": 0.305, "multi-task": 0.453},
            "model": "LLaVA-1.5-7B, real data"}


def multitask_summaries(collected: "Collected", n_boot: int, seed: int) -> list[MultiTaskSummary]:
    """One summary per train variant and scorer; none when the study has no multi-task arms."""
    from medmat.plan.multitask import RULE, partners

    rows = [r for r in collected.rows if r.kind in ("single-task", "multi-task")]
    if not rows or not collected.division.get("subsets"):
        return []
    div = collected.division["subsets"]
    out = []
    for variant in dict.fromkeys(r.variant for r in rows):
        correct = collected.correct.get(variant, {})
        for scorer in dict.fromkeys(r.scorer for r in rows):
            mine = [r for r in collected.rows if r.variant == variant and r.scorer == scorer and r.kind in KINDS]
            subsets = _subset_rows(mine, correct, div, scorer, n_boot, seed, partners)
            seeds = sorted({r.seed or 0 for r in mine})
            out.append(MultiTaskSummary(
                scorer=scorer, variant=variant, rule=collected.division.get("rule", RULE),
                cap=collected.division.get("cap"), seeds=seeds,
                averages=_averages(mine, subsets, n_boot, seed), gains=_gains(mine, subsets, n_boot, seed),
                subsets=subsets, associations=_associations(subsets, n_boot, seed), paper=paper_multitask()))
    return out


def _by(rows: list[ResultRow]) -> dict[tuple[str, str], dict[int, float]]:
    """(subset, arm kind) -> seed -> accuracy."""
    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for r in rows:
        out[(r.target_subset, r.kind)][r.seed or 0] = r.accuracy
    return out


def _subset_rows(rows: list[ResultRow], correct: dict, div: dict[str, dict], scorer: str, n_boot: int, seed: int,
                 partners) -> list[SubsetRow]:
    from medmat.evaluate import align_by_item
    from medmat.evaluate.stats import two_level_ci

    acc = _by(rows)
    target_of = {r.target_subset: r.target for r in rows}
    out = []
    for sid in sorted({r.target_subset for r in rows}):
        info = div.get(sid, {"role": IN, "train_items": 0, "triplet": target_of[sid]})
        role = info["role"]
        seeds = sorted(set().union(*(acc.get((sid, k), {}).keys() for k in KINDS)))
        means = {k: (float(np.mean(list(acc[(sid, k)].values()))) if acc.get((sid, k)) else None) for k in KINDS}
        diffs = []
        for s in seeds:
            a = correct.get((s, scorer, target_of[sid], "multi-task"))
            b = correct.get((s, scorer, target_of[sid], COMPARED[role]))
            if a is not None and b is not None:
                x, y = align_by_item(a, b)
                diffs.append(x.astype(float) - y.astype(float))
        gain = None
        if diffs:
            ci = two_level_ci(diffs, n_boot=n_boot, seed=seed)
            gain = Mean(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=len(diffs))
        mates = partners(div, sid) if sid in div else {}
        related = set().union(*mates.values()) if mates else set()
        n_items = next((r.n for r in rows if r.target_subset == sid), 0)
        out.append(SubsetRow(subset=sid, triplet=info["triplet"], role=role, train_items=info["train_items"],
                             seeds=seeds, zero_shot=means["zero-shot"], single_task=means["single-task"],
                             multi_task=means["multi-task"], n=n_items, gain=gain, partners=mates,
                             n_related=len(related)))
    return out


def _averages(rows: list[ResultRow], subsets: list[SubsetRow], n_boot: int, seed: int) -> dict[str, dict[str, Mean]]:
    from medmat.evaluate.stats import two_level_ci

    acc = _by(rows)
    out: dict[str, dict[str, Mean]] = {}
    for role in (IN, OUT):
        mine = [s.subset for s in subsets if s.role == role]
        for kind in KINDS:
            groups = [list(acc[(sid, kind)].values()) for sid in mine if acc.get((sid, kind))]
            if groups:
                ci = two_level_ci(groups, n_boot=n_boot, seed=seed)
                out.setdefault(role, {})[kind] = Mean(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=len(groups))
    return out


def _gains(rows: list[ResultRow], subsets: list[SubsetRow], n_boot: int, seed: int) -> dict[str, Mean]:
    """Per role: multi-task minus its comparison arm, per subset and seed, subsets x seeds interval."""
    from medmat.evaluate.stats import two_level_ci

    acc = _by(rows)
    out = {}
    for role in (IN, OUT):
        groups = []
        for s in (s for s in subsets if s.role == role):
            multi, other = acc.get((s.subset, "multi-task"), {}), acc.get((s.subset, COMPARED[role]), {})
            both = sorted(set(multi) & set(other))
            if both:
                groups.append([multi[k] - other[k] for k in both])
        if groups:
            ci = two_level_ci(groups, n_boot=n_boot, seed=seed)
            out[role] = Mean(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=len(groups))
    return out


def _associations(subsets: list[SubsetRow], n_boot: int, seed: int) -> list[Association]:
    out = []
    for role in (IN, OUT):
        mine = [s for s in subsets if s.role == role and s.gain is not None]
        if len(mine) < 3:
            continue
        y = np.array([s.gain.mean for s in mine])  # type: ignore[union-attr]
        counts = {"related": [s.n_related for s in mine]}
        counts.update({e: [len(s.partners.get(e, [])) for s in mine] for e in ("modality", "area", "task")})
        for what, x in counts.items():
            rho, p, lo, hi = spearman_test(np.array(x, float), y, n_perm=N_PERM, n_boot=n_boot, seed=seed)
            out.append(Association(gain=f"multi-task - {COMPARED[role]}", role=role, partners=what,
                                   primary=(role == IN and what == "related"), n=len(mine), rho=rho, p_value=p,
                                   ci_low=lo, ci_high=hi, n_perm=N_PERM if rho is not None else 0))
    return out


def ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v), float)
    r[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tie = v == value
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Pearson's r of ``a`` with ``b`` (or with each row of a 2-d ``b``); None if a column is constant."""
    a = a - a.mean()
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum() * (b * b).sum(axis=-1))
    if np.any(den == 0):
        return None
    return (b @ a) / den


def spearman_test(x: np.ndarray, y: np.ndarray, n_perm: int = N_PERM, n_boot: int = 1000,
                  seed: int = 0) -> tuple[float | None, float | None, float | None, float | None]:
    """(rho, two-sided permutation p, bootstrap 2.5%, 97.5%); all None for a constant column."""
    rx, ry = ranks(x), ranks(y)
    r0 = _pearson(rx, ry)
    if r0 is None:
        return None, None, None, None
    rho = float(r0)
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, len(y))), axis=1)
    null = _pearson(rx, ry[perms])
    p = float((1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (1 + n_perm))
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(x), len(x))
        r = _pearson(ranks(x[pick]), ranks(y[pick]))
        if r is not None:
            boots.append(float(r))
    lo, hi = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots else (None, None)
    return float(rho), p, lo, hi
