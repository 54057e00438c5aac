"""Report tables of the multi-task study and of leave-out arms over cases, as lists of cells.

Drawn from results.json (``StudyResults.multitask``, ``.leave_out``), never computed here:
``multitask_tables`` is the paper's multi-task table with its averages beside ours, a row
per subset with the subsets sharing each element, and the association test;
``leave_out_table`` sets a leave-out study's averages side by side, one row per case (the
entanglement dial's sweep) or one row without cases.
"""

from __future__ import annotations

from medmat.study.results import Association, Mean, MultiTaskSummary, StudyResults
from medmat.study.tables import Table, pct

IN, OUT = "in-distribution", "out-of-distribution"
LEAVE_OUT_ARMS = ("zero-shot", "all-related", "wo-modality", "wo-area", "wo-task", "all-unrelated", "all-data")


def mean_cell(m: Mean | None, signed: bool = False) -> str:
    if m is None:
        return "–"
    if signed:
        star = " *" if m.ci_low > 0 or m.ci_high < 0 else ""
        return f"{100 * m.mean:+.1f} [{100 * m.ci_low:+.1f}, {100 * m.ci_high:+.1f}]{star}"
    return f"{100 * m.mean:.1f} [{100 * m.ci_low:.1f}, {100 * m.ci_high:.1f}]"


def _label(s: MultiTaskSummary) -> str:
    parts = [p for p in (s.case, s.variant) if p]
    return f"[{', '.join(parts)}] " if parts else ""


def multitask_summary_table(s: MultiTaskSummary) -> Table:
    """The paper's table: per role, untrained / single-task / multi-task, ours beside the paper's."""
    header = ["subsets", "n", "untrained", "single-task", "multi-task", "multi-task gain [95% CI]"]
    rows = []
    for role in (IN, OUT):
        avg = s.averages.get(role, {})
        if not avg:
            continue
        n = max(m.n for m in avg.values())
        gain = s.gains.get(role)
        what = "vs single-task" if role == IN else "vs untrained"
        rows.append([f"{role} (ours, {len(s.seeds)} seed(s))", str(n), mean_cell(avg.get("zero-shot")),
                     mean_cell(avg.get("single-task")) if role == IN else "–", mean_cell(avg.get("multi-task")),
                     f"{mean_cell(gain, signed=True)} {what}" if gain else "–"])
        paper = s.paper.get(role)
        if paper:
            single = paper.get("single-task")
            other = single if role == IN else paper["zero-shot"]
            rows.append([f"{role}, Med-MAT paper ({s.paper.get('model', '')})", str(paper["subsets"]),
                         pct(paper["zero-shot"]), pct(single), pct(paper["multi-task"]),
                         f"{100 * (paper['multi-task'] - other):+.1f} {what}"])
    title = (f"{_label(s)}Multi-task vs single-task ({s.scorer} scorer; accuracy % with 95% intervals, "
             "subsets x seeds)")
    return title, header, rows


def multitask_subset_table(s: MultiTaskSummary) -> Table:
    """One row per subset: its role, accuracies, gain and the subsets sharing each element."""
    header = ["subset", "role", "train items", "untrained", "single-task", "multi-task", "gain [95% CI]",
              "related partners", "share modality", "share area", "share task"]
    rows = []
    for r in sorted(s.subsets, key=lambda r: (r.role != IN, r.subset)):
        rows.append([f"{r.triplet} ({r.subset})", r.role, str(r.train_items), pct(r.zero_shot), pct(r.single_task),
                     pct(r.multi_task), mean_cell(r.gain, signed=True), str(r.n_related),
                     *(", ".join(r.partners.get(e, [])) or "–" for e in ("modality", "area", "task"))])
    title = (f"{_label(s)}Per subset (means over seeds; gain = multi-task minus single-task in distribution, minus "
             "untrained out of distribution, resampling seeds then items; partners = other in-distribution subsets)")
    return title, header, rows


def association_table(s: MultiTaskSummary) -> Table | None:
    if not s.associations:
        return None
    header = ["gain", "subsets", "partners counted", "test", "n", "Spearman rho [95% CI]", "permutation p"]
    rows = [[a.gain, a.role, a.partners, "primary (fixed in advance)" if a.primary else "descriptive", str(a.n),
             _rho_cell(a), "–" if a.p_value is None else f"{a.p_value:.3f}"] for a in s.associations]
    return f"{_label(s)}Do subsets with more related partners gain more?", header, rows


def _rho_cell(a: Association) -> str:
    if a.rho is None:
        return "– (a constant column)"
    return f"{a.rho:+.2f} [{a.ci_low:+.2f}, {a.ci_high:+.2f}]" if a.ci_low is not None else f"{a.rho:+.2f}"


def association_sentence(s: MultiTaskSummary) -> str:
    """The primary test in words, whatever it shows."""
    a = next((x for x in s.associations if x.primary), None)
    if a is None or a.rho is None:
        return "The association between related partners and multi-task gain could not be tested."
    shows = ("subsets with more related partners gained MORE from multi-task training, as CG predicts"
             if a.rho > 0 and a.p_value is not None and a.p_value < 0.05 else
             "subsets with more related partners gained LESS" if a.rho < 0 and a.p_value is not None
             and a.p_value < 0.05 else "no association between related partners and gain is shown")
    return (f"Primary test (fixed in advance): over {a.n} in-distribution subsets, Spearman's rho between the "
            f"number of related partners and the multi-task minus single-task gain is {a.rho:+.2f} "
            f"(95% bootstrap interval [{a.ci_low:+.2f}, {a.ci_high:+.2f}], permutation p = {a.p_value:.3f}): "
            f"{shows}.")


def multitask_tables(results: StudyResults, scorer: str) -> list[Table]:
    out: list[Table] = []
    for s in (x for x in results.multitask if x.scorer == scorer):
        out.append(multitask_summary_table(s))
        assoc = association_table(s)
        out += [assoc] if assoc else []
        out.append(multitask_subset_table(s))
    return out


def leave_out_table(results: StudyResults, scorer: str) -> Table | None:
    """Leave-out averages, one row per case (and train variant): arms and the drop per element."""
    sums = [s for s in results.leave_out if s.scorer == scorer]
    if not sums:
        return None
    arms = [a for a in LEAVE_OUT_ARMS if any(a in s.arms for s in sums)]
    variants = any(s.variant for s in sums)
    header = (["case"] if results.cases else []) + (["variant"] if variants else [])
    header += ["targets x seeds"] + arms + [f"drop without {e} [95% CI]" for e in ("modality", "area", "task")]
    rows = []
    for s in sums:
        row = ([_case_cell(results, s.case)] if results.cases else []) + ([s.variant or "–"] if variants else [])
        n = max((m.n for m in s.arms.values()), default=0)
        row += [f"{len(s.targets)} x {len(s.seeds)} ({n})"] + [mean_cell(s.arms.get(a)) for a in arms]
        row += [mean_cell(s.drops.get(e), signed=True) for e in ("modality", "area", "task")]
        rows.append(row)
    title = (f"Leave-one-element-out averages ({scorer} scorer; accuracy % on the targets, 95% intervals resampling "
             "items within each target and seed; drop = all-related minus the arm without that element's subsets)")
    return title, header, rows


def _case_cell(results: StudyResults, case: str | None) -> str:
    sets = results.cases.get(case or "", {})
    if not sets:
        return str(case)
    return f"{case} (" + ", ".join(k.split(".")[-1] + f"={v}" for k, v in sorted(sets.items())) + ")"
