"""The report's tables as lists of cells, drawn from results.json (never computed here).

``paper_tables`` is the paper's Table 3 layout: one table per direction type, a row per
comparison (target and related arm), pooled over the study's seeds; ``summary_table``
averages them per direction type and overall, with the paper's own averages beside.
"""

from __future__ import annotations

from collections import defaultdict

from medmat.study.results import PooledRow, ResultRow, StudyResults

DIRECTION_TITLES = {
    "fixed-modality": "Fixed modality", "fixed-area": "Fixed area", "fixed-task": "Fixed task",
    "modality-area": "Modality-area paired", "area-task": "Area-task paired",
    "modality-task": "Modality-task paired", "three-sources": "Three sources (one element each)",
}
Table = tuple[str, list[str], list[list[str]]]


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def accuracy_cell(r: ResultRow | None) -> str:
    if r is None:
        return "–"
    return f"{100 * r.accuracy:.1f} [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}]"


def interval_cell(est: float, low: float, high: float) -> str:
    star = " *" if low > 0 or high < 0 else ""
    return f"{100 * est:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]{star}"


def _row_cells(results: StudyResults, p: PooledRow, controls: bool) -> list[str]:
    """Accuracy cells: with one seed the evaluator's item interval, with several the mean
    over seeds and its range."""
    mine = [r for r in results.rows if r.scorer == p.scorer and r.variant == p.variant]
    by = {(r.seed, r.target, r.arm): r for r in mine}
    zero = {(r.seed, r.target): r for r in mine if r.kind == "zero-shot"}

    def cell(arm: str | None, mean: float | None) -> str:
        if mean is None:
            return "–"
        got = [zero.get((s, p.target)) if arm is None else by.get((s, p.target, arm)) for s in p.seeds]
        got = [g for g in got if g is not None]
        if len(p.seeds) == 1 and got:
            return accuracy_cell(got[0])
        accs = [g.accuracy for g in got]
        return f"{100 * mean:.1f} ({100 * min(accs):.1f}–{100 * max(accs):.1f})" if accs else pct(mean)

    tail = p.related_arm.removeprefix("related-")
    cells = [p.target, " + ".join(p.sources), str(p.n_train), cell(None, p.zero_shot),
             cell(p.unrelated_arm, p.unrelated), cell(p.related_arm, p.related),
             interval_cell(p.gain, p.gain_ci_low, p.gain_ci_high)]
    if controls:
        cells += [cell(f"related-shuffled-{tail}", p.related_shuffled), cell(f"unrelated-vocab-{tail}", p.unrelated_vocab)]
    return cells + [pct(p.related_in_distribution)]


def _tag(variant: str | None) -> str:
    return "" if variant is None else f"[{variant}] "


def paper_tables(results: StudyResults, scorer: str, variant: str | None = None) -> list[Table]:
    """Per direction type: (title, header, rows), rows pooled over seeds."""
    pooled = [p for p in results.pooled if p.scorer == scorer and p.variant == variant]
    controls = any(p.related_shuffled is not None or p.unrelated_vocab is not None for p in pooled)
    seeds = "accuracy %" if len(results.seeds) <= 1 else f"mean accuracy % (range over {len(results.seeds)} seeds)"
    header = ["target", "related sources", "n train", "zero-shot", "unrelated", "related",
              "gain (rel - unrel) [95% CI]"]
    header += ["related, answers shuffled", "unrelated, target words"] if controls else []
    header += ["related, in-distribution"]
    groups: dict[str, list[list[str]]] = defaultdict(list)
    for p in pooled:
        groups[p.direction or "related"].append(_row_cells(results, p, controls))
    order = list(DIRECTION_TITLES) + sorted(set(groups) - set(DIRECTION_TITLES))
    return [(f"{_tag(variant)}{DIRECTION_TITLES.get(d, d)} ({seeds})", header, groups[d]) for d in order if d in groups]


def summary_table(results: StudyResults, scorer: str, variant: str | None = None) -> Table | None:
    """Averages per direction type and overall (rows x seeds bootstrap), then the paper's."""
    sums = [s for s in results.pooled_summaries if s.scorer == scorer and s.variant == variant]
    if not sums:
        return None
    controls = any(s.mean_related_shuffled is not None for s in sums)
    header = ["direction type", "rows", "zero-shot", "unrelated", "related", "gain [95% CI, rows x seeds]",
              "related > unrelated", "related > zero-shot"]
    header += ["related, answers shuffled", "unrelated, target words"] if controls else []
    order = list(DIRECTION_TITLES)
    sums.sort(key=lambda s: (s.direction is None, order.index(s.direction) if s.direction in order else 99))
    rows = []
    for s in sums:
        row = [DIRECTION_TITLES.get(s.direction or "", s.direction or "all rows"), str(s.n_rows),
               pct(s.mean_zero_shot), pct(s.mean_unrelated), pct(s.mean_related),
               interval_cell(s.mean_gain, s.gain_ci_low, s.gain_ci_high),
               f"{s.related_beats_unrelated} of {s.n_rows}", f"{s.related_beats_zero_shot} of {s.n_rows}"]
        rows.append(row + ([pct(s.mean_related_shuffled), pct(s.mean_unrelated_vocab)] if controls else []))
    if results.paper:
        p = results.paper
        rows.append(["Med-MAT paper, Table 3 (LLaVA-1.5-7B, real data)", str(p["rows"]), pct(p["zero_shot"]),
                     pct(p["unrelated"]), pct(p["related"]), f"{100 * (p['related'] - p['unrelated']):+.1f}", "–",
                     f"{p['related_beats_zero_shot']} of {p['rows']}"] + (["–", "–"] if controls else []))
    title = f"{_tag(variant)}Averages ({len(results.seeds) or 1} seed(s))"
    return title, header, rows


def variants_table(results: StudyResults, scorer: str) -> Table | None:
    """The train variants side by side (all rows, rows x seeds interval), when there are several."""
    variants = results.variants()
    if len(variants) < 2:
        return None
    header = ["train variant", "rows", "zero-shot", "unrelated", "related", "gain [95% CI, rows x seeds]",
              "related > unrelated", "related, in-distribution", "unrelated, in-distribution", "invalid % (generate)"]
    rows = []
    for v in variants:
        s = next((x for x in results.pooled_summaries if x.scorer == scorer and x.variant == v and x.direction is None),
                 None)
        if s is None:
            continue
        pooled = [p for p in results.pooled if p.scorer == scorer and p.variant == v]
        gen = [r.invalid_rate for r in results.rows if r.scorer == "generate" and r.variant == v]
        rows.append([str(v), str(s.n_rows), pct(s.mean_zero_shot), pct(s.mean_unrelated), pct(s.mean_related),
                     interval_cell(s.mean_gain, s.gain_ci_low, s.gain_ci_high),
                     f"{s.related_beats_unrelated} of {s.n_rows}",
                     pct(_avg([p.related_in_distribution for p in pooled])),
                     pct(_avg([p.unrelated_in_distribution for p in pooled])),
                     pct(_avg(gen)) if gen else "–"])
    return "Train variants side by side", header, rows


def _avg(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def other_rows(results: StudyResults, scorer: str, variant: str | None = None) -> list[list[str]]:
    skip = ("zero-shot", "related", "unrelated", "related-shuffled", "unrelated-vocab",
            "single-task", "multi-task")  # the multi-task study's arms have their own tables (study/sections.py)
    rows = [r for r in results.rows if r.scorer == scorer and r.kind not in skip and r.variant == variant]
    return [[r.target, r.arm, str(r.n_train), accuracy_cell(r), f"{100 * r.invalid_rate:.1f}"]
            + ([str(r.seed)] if len(results.seeds) > 1 else []) for r in rows]
