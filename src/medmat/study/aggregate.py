"""From per-arm evaluation files to results.json: rows, paired gains, summaries, pooled table.

Every number in a report comes from here: accuracies and their intervals are the
evaluator's; gains are paired bootstraps over the SAME target test items of a related arm
and the unrelated arm matched to it; the study's mean gain resamples items within every
comparison (each related/unrelated pair of each seed weighted equally, like a row of the
paper's table); the pooled table (study/pooled.py) averages each comparison over seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medmat.io import read_json, slug
from medmat.study.config import StudyConfig
from medmat.study.pooled import paper_reference, pool
from medmat.study.results import GainRow, ResultRow, StudyResults, Summary

Pairs = dict[tuple[int, str, str, str], tuple[np.ndarray, np.ndarray]]
VariantPairs = dict[str | None, Pairs]
Correct = dict[tuple[int, str, str, str], dict[str, bool]]  # (seed, scorer, target, arm) -> item -> correct
ITEM_KINDS = frozenset({"zero-shot", "single-task", "multi-task", "leave-out", "all-data"})
"""Arm kinds whose per-item correctness is kept for the multi-task and leave-out summaries."""


@dataclass
class Collected:
    """Everything read from the evaluation files of one or several runs (seeds) of a study."""

    rows: list[ResultRow] = field(default_factory=list)
    gains: list[GainRow] = field(default_factory=list)
    pairs: VariantPairs = field(default_factory=dict)
    correct: dict[str | None, Correct] = field(default_factory=dict)  # per train variant
    division: dict[str, Any] = field(default_factory=dict)  # multi-task plans: rule, cap, subsets (plan/multitask.py)

    def add(self, other: "Collected") -> None:
        self.rows += other.rows
        self.gains += other.gains
        for variant, vpairs in other.pairs.items():
            self.pairs.setdefault(variant, {}).update(vpairs)
        for variant, vcorrect in other.correct.items():
            self.correct.setdefault(variant, {}).update(vcorrect)
        self.division = self.division or other.division  # the same in every seed (a rule on sizes)


def eval_dir(run_dir: Path, target: str, arm: str, variant: str | None = None) -> Path:
    """Where an arm's evaluation lives (per train variant when the study has several)."""
    base = run_dir / "evals" if variant is None else run_dir / "evals" / variant
    return base / slug(target) / arm


def collect(cfg: StudyConfig, run_dir: Path, manifests: list[Path]) -> Collected:
    """Rows, gains and paired correctness of one run (one seed) of a study, every train variant."""
    out = Collected()
    for variant, _ in cfg.train_variants():
        r, g, p, c = _collect_variant(cfg, run_dir, manifests, variant)
        out.rows += r
        out.gains += g
        out.pairs.setdefault(variant, {}).update(p)
        out.correct.setdefault(variant, {}).update(c)
    index = manifests[0].parent / "study.json" if manifests else None
    if index is not None and index.is_file():  # the multi-task division (plan/multitask.py)
        out.division = read_json(index).get("division", {})
    return out


def _collect_variant(cfg: StudyConfig, run_dir: Path, manifests: list[Path],
                     variant: str | None) -> tuple[list[ResultRow], list[GainRow], Pairs, Correct]:
    from medmat.evaluate import align_by_item, correct_by_item, load_results, paired_diff_ci
    from medmat.plan import load_manifest

    seed = cfg.seed
    rows: list[ResultRow] = []
    gains: list[GainRow] = []
    pairs: Pairs = {}
    correct: Correct = {}
    for mpath in manifests:
        m = load_manifest(mpath)
        evals = {arm.name: load_results(eval_dir(run_dir, m.target, arm.name, variant)) for arm in m.arms}
        for arm in m.arms:
            metrics = evals[arm.name].metrics
            indist_dir = eval_dir(run_dir, m.target, arm.name, variant) / "in-distribution"
            indist = load_results(indist_dir).metrics["overall"]["option"]["accuracy"] if indist_dir.is_dir() else None
            for scorer, b in metrics["overall"].items():
                rows.append(ResultRow(
                    target=m.target, target_subset=m.target_subset, arm=arm.name, kind=arm.kind,
                    direction=arm.direction, sources=[s.subset for s in arm.sources], n_train=arm.n_train,
                    k=arm.k, with_related=("+related" in arm.name) if arm.kind == "low-data" else None,
                    scorer=scorer, accuracy=b["accuracy"], ci_low=b["ci_low"], ci_high=b["ci_high"], n=b["n"],
                    invalid_rate=b["invalid_rate"], chance=b["chance"],
                    pred_letters={k: int(v) for k, v in b["letter_counts"].items()},
                    true_letters={k: int(v) for k, v in b["answer_counts"].items()},
                    circular_accuracy=b.get("circular_accuracy"), in_distribution_accuracy=indist, seed=seed,
                    variant=variant,
                ))
                if arm.kind in ITEM_KINDS:
                    correct[(seed, scorer, m.target, arm.name)] = correct_by_item(evals[arm.name], scorer)
        for arm in m.arms:
            if arm.kind != "related" or not arm.matched_with or arm.matched_with not in evals:
                continue
            partner = m.arm(arm.matched_with)
            for scorer in cfg.eval.scorers:
                a, b = align_by_item(correct_by_item(evals[arm.name], scorer), correct_by_item(evals[partner.name], scorer))
                ci = paired_diff_ci(a, b, n_boot=cfg.eval.n_boot, seed=cfg.eval.seed)
                supplies = sorted({e for s in arm.sources for e in s.supplies})
                gains.append(GainRow(target=m.target, scorer=scorer, related_arm=arm.name, unrelated_arm=partner.name,
                                     direction=arm.direction, shared=supplies, gain=ci.estimate, ci_low=ci.low,
                                     ci_high=ci.high, n=ci.n, seed=seed, variant=variant))
                pairs[(seed, scorer, m.target, arm.name)] = (a, b)
    return rows, gains, pairs, correct


def finalize(cfg: StudyConfig, collected: Collected, prov: dict[str, Any]) -> StudyResults:
    """Summaries, the pooled table and the multi-task and leave-out summaries over everything
    collected (one or several seeds), per train variant."""
    from medmat.evaluate import mean_gain_ci
    from medmat.study.leave_out import leave_out_summaries
    from medmat.study.multitask import multitask_summaries

    rows, gains, pairs = collected.rows, collected.gains, collected.pairs
    seeds = sorted({r.seed for r in rows if r.seed is not None})
    summaries, pooled, pooled_summaries = [], [], []
    for variant, vpairs in pairs.items():
        vrows = [r for r in rows if r.variant == variant]
        vgains = [g for g in gains if g.variant == variant]
        for scorer in cfg.eval.scorers:
            per_comparison = {f"{s}|{t}|{a}": v for (s, sc, t, a), v in vpairs.items() if sc == scorer}
            summary = _summary(scorer, vrows, vgains, per_comparison, cfg, mean_gain_ci)
            summaries.append(summary.model_copy(update={"variant": variant}))
        p_rows, p_sums = pool(vrows, vpairs, n_boot=cfg.eval.n_boot, seed=cfg.eval.seed)
        pooled += [p.model_copy(update={"variant": variant}) for p in p_rows]
        pooled_summaries += [p.model_copy(update={"variant": variant}) for p in p_sums]
    return StudyResults(name=cfg.name, description=cfg.description, backbone=cfg.model.backbone, rows=rows,
                        gains=gains, summaries=summaries, seeds=seeds, pooled=pooled,
                        pooled_summaries=pooled_summaries, paper=_paper_beside(cfg, pooled),
                        multitask=multitask_summaries(collected, cfg.eval.n_boot, cfg.eval.seed),
                        leave_out=leave_out_summaries(collected, cfg.eval.n_boot, cfg.eval.seed),
                        provenance=prov)


def _paper_beside(cfg: StudyConfig, pooled: list) -> dict[str, Any]:
    """The paper's Table 3 averages, beside a pooled classification CG study only: its rows
    are classification -> classification, so a cross-kind study (``plan.cross_kind``) gets none."""
    return paper_reference() if pooled and cfg.plan.cross_kind is None else {}


def aggregate(cfg: StudyConfig, run_dir: Path, manifests: list[Path], prov: dict[str, Any]) -> StudyResults:
    """results.json of a single-seed run."""
    return finalize(cfg, collect(cfg, run_dir, manifests), prov)


def merge_cases(cfg: StudyConfig, parts: list[tuple[str, StudyResults]], prov: dict[str, Any]) -> StudyResults:
    """One results file for a study with ``cases``: every case's results, each row and summary
    labelled with its case (study/config.py ``cases``)."""
    def tag(items: list, case: str) -> list:
        return [x.model_copy(update={"case": case}) for x in items]

    merged = StudyResults(name=cfg.name, description=cfg.description, backbone=cfg.model.backbone,
                          cases={name: dict(cfg.cases[name]) for name, _ in parts}, provenance=prov)
    for case, res in parts:
        for fieldname in ("rows", "gains", "summaries", "pooled", "pooled_summaries", "multitask", "leave_out"):
            getattr(merged, fieldname).extend(tag(getattr(res, fieldname), case))
        merged.seeds = sorted(set(merged.seeds) | set(res.seeds))
        merged.paper = merged.paper or res.paper
    return merged


def _summary(scorer: str, rows: list[ResultRow], gains: list[GainRow], pairs: dict, cfg: StudyConfig,
             mean_gain_ci) -> Summary:
    """Means over comparisons (related arm vs its matched unrelated arm, per seed), like the
    paper's rows, so mean_related - mean_unrelated equals mean_gain exactly."""
    rs = [r for r in rows if r.scorer == scorer]
    gs = [g for g in gains if g.scorer == scorer]
    acc = {(r.seed, r.target, r.arm): r.accuracy for r in rs}
    zero = {(r.seed, r.target): r.accuracy for r in rs if r.kind == "zero-shot"}
    s = Summary(scorer=scorer, n_targets=len({g.target for g in gs}) or len({r.target for r in rs}),
                related_wins=sum(1 for g in gs if g.gain > 0), comparisons=len(gs))
    if gs:
        s.mean_related = float(np.mean([acc[(g.seed, g.target, g.related_arm)] for g in gs]))
        s.mean_unrelated = float(np.mean([acc[(g.seed, g.target, g.unrelated_arm)] for g in gs]))
        zs = [zero[(g.seed, g.target)] for g in gs if (g.seed, g.target) in zero]
        s.mean_zero_shot = float(np.mean(zs)) if zs else None
    if pairs:
        ci = mean_gain_ci(pairs, n_boot=cfg.eval.n_boot, seed=cfg.eval.seed)
        s.mean_gain, s.gain_ci_low, s.gain_ci_high = ci.estimate, ci.low, ci.high
    return s
