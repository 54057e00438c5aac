"""Matplotlib figures for study reports, each returned as PNG bytes.

Every function takes a :class:`StudyResults` and draws only what is in it. A figure with
nothing to show returns None, and the report says so instead of drawing an empty axis.
"""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np

from medmat.study.results import StudyResults

ARM_ORDER = ("zero-shot", "unrelated", "related")
ARM_COLORS = {"zero-shot": "#9e9e9e", "unrelated": "#e4a03a", "related": "#2f7ab9",
              "leave-out": "#7b5ea7", "all-data": "#4a9c5d", "low-data": "#c0504d"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _short(target: str, width: int = 28) -> str:
    parts = target.split("/", 2)
    text = "\n".join(parts) if len(parts) == 3 else target
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))


def arm_bars(results: StudyResults, scorer: str) -> bytes | None:
    """Accuracy of zero-shot / unrelated / related per target with 95% intervals."""
    rows = [r for r in results.rows if r.scorer == scorer and r.kind in ARM_ORDER]
    if not any(r.kind != "zero-shot" for r in rows):  # nothing to compare the untrained model with
        return None
    targets = list(dict.fromkeys(r.target for r in rows))
    # best-known arm per kind: the mean over arms of that kind (several related directions)
    data: dict[tuple[str, str], list] = defaultdict(list)
    for r in rows:
        data[(r.target, r.kind)].append(r)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.9 * len(targets) + 1.5), 3.6))
    width = 0.8 / len(ARM_ORDER)
    x = np.arange(len(targets))
    for j, kind in enumerate(ARM_ORDER):
        acc, lo, hi = [], [], []
        for t in targets:
            rs = data.get((t, kind), [])
            if rs:
                a = float(np.mean([r.accuracy for r in rs]))
                acc.append(a)
                lo.append(a - float(np.mean([r.ci_low for r in rs])))
                hi.append(float(np.mean([r.ci_high for r in rs])) - a)
            else:
                acc.append(np.nan), lo.append(0), hi.append(0)
        ax.bar(x + (j - 1) * width, np.array(acc) * 100, width, yerr=np.array([lo, hi]) * 100,
               capsize=3, label=kind, color=ARM_COLORS[kind])
    chance = [np.mean([r.chance for r in rows if r.target == t]) * 100 for t in targets]
    for i, c in enumerate(chance):
        ax.hlines(c, i - 0.45, i + 0.45, colors="k", linestyles=":", linewidth=1)
    ax.set_xticks(x, [_short(t) for t in targets], fontsize=7)
    ax.set_ylabel(f"accuracy % ({scorer} scorer)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Target accuracy by arm (95% bootstrap intervals; dotted = chance)", fontsize=9)
    return _png(fig)


def gain_heatmap(results: StudyResults, scorer: str) -> bytes | None:
    """Gain of related over unrelated (points), targets x direction type."""
    gains = [g for g in results.gains if g.scorer == scorer]
    if not gains:
        return None
    targets = list(dict.fromkeys(g.target for g in gains))
    directions = sorted({g.direction or "related" for g in gains})
    mat = np.full((len(targets), len(directions)), np.nan)
    sig = np.zeros_like(mat, dtype=bool)
    for g in gains:
        i, j = targets.index(g.target), directions.index(g.direction or "related")
        mat[i, j] = g.gain * 100 if np.isnan(mat[i, j]) else (mat[i, j] + g.gain * 100) / 2
        sig[i, j] = g.ci_low > 0 or g.ci_high < 0
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 * len(directions) + 3, 0.55 * len(targets) + 1.6))
    lim = max(5.0, float(np.nanmax(np.abs(mat))))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(mat), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(targets)):
        for j in range(len(directions)):
            if np.isnan(mat[i, j]):
                ax.text(j, i, "not run", ha="center", va="center", fontsize=7, color="#999")
                continue
            color = "white" if abs(mat[i, j]) > 0.6 * lim else "black"
            ax.text(j, i, f"{mat[i, j]:+.1f}{'*' if sig[i, j] else ''}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(directions)), directions, fontsize=8, rotation=20)
    ax.set_yticks(range(len(targets)), [t.replace("/", " / ") for t in targets], fontsize=7)
    fig.colorbar(im, ax=ax, label="related - unrelated (points)")
    ax.set_title("Gain of related over unrelated by shared element (* = 95% interval excludes 0)", fontsize=9)
    return _png(fig)


def low_data_curves(results: StudyResults, scorer: str) -> bytes | None:
    rows = [r for r in results.rows if r.scorer == scorer and r.kind == "low-data" and r.k is not None]
    if not rows:
        return None
    targets = list(dict.fromkeys(r.target for r in rows))
    plt = _plt()
    fig, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets), 3.0), squeeze=False)
    for ax, t in zip(axes[0], targets):
        for with_rel, color, label in ((False, "#e4a03a", "target only"), (True, "#2f7ab9", "+ related")):
            rs = sorted((r for r in rows if r.target == t and bool(r.with_related) == with_rel), key=lambda r: r.k)
            if not rs:
                continue
            k = [r.k for r in rs]
            ax.plot(k, [r.accuracy * 100 for r in rs], "o-", color=color, label=label)
            ax.fill_between(k, [r.ci_low * 100 for r in rs], [r.ci_high * 100 for r in rs], color=color, alpha=0.2)
        ax.set_title(_short(t, 40).replace("\n", " / "), fontsize=7)
        ax.set_xlabel("target training items (k)")
        ax.set_ylabel("accuracy %")
        ax.legend(fontsize=7)
    return _png(fig)


def position_bias(results: StudyResults, scorer: str) -> bytes | None:
    """Share of each predicted letter per arm, beside the share of each correct letter."""
    rows = [r for r in results.rows if r.scorer == scorer and r.pred_letters]
    if not rows:
        return None
    agg: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    truth: dict[str, int] = defaultdict(int)
    for r in rows:
        for letter, c in r.pred_letters.items():
            agg[r.kind][letter] += c
        for letter, c in r.true_letters.items():
            truth[letter] += c
    letters = sorted({lt for d in agg.values() for lt in d} | set(truth))
    groups = [("correct letters", truth)] + [(f"{k} predicted", agg[k]) for k in sorted(agg)]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(groups) + 1.2))
    cmap = plt.get_cmap("tab10")
    for i, (name, counts) in enumerate(groups):
        total = max(1, sum(counts.values()))
        left = 0.0
        for j, letter in enumerate(letters):
            share = counts.get(letter, 0) / total
            ax.barh(i, share, left=left, color=cmap(j), label=letter if i == 0 else None)
            if share > 0.06:
                ax.text(left + share / 2, i, f"{letter} {share:.0%}", ha="center", va="center", fontsize=7, color="white")
            left += share
    ax.set_yticks(range(len(groups)), [g[0] for g in groups], fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title(f"Position bias ({scorer} scorer): predicted vs correct letter shares", fontsize=9)
    return _png(fig)


def invalid_rates(results: StudyResults) -> bytes | None:
    rows = [r for r in results.rows if r.scorer == "generate"]
    if not rows:
        return None
    kinds = sorted({r.kind for r in rows})
    rates = [np.mean([r.invalid_rate for r in rows if r.kind == k]) * 100 for k in kinds]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(kinds) + 1), 2.8))
    ax.bar(kinds, rates, color=[ARM_COLORS.get(k, "#777") for k in kinds])
    for i, v in enumerate(rates):
        ax.text(i, v + 0.5, f"{v:.1f}%", ha="center", fontsize=8)
    ax.set_ylabel("unparseable answers %")
    ax.set_ylim(0, max(10.0, max(rates) * 1.25))
    ax.set_title("Invalid (unparseable) generated answers by arm", fontsize=9)
    return _png(fig)


def multitask_figure(results: StudyResults, scorer: str) -> bytes | None:
    """Left: the paper's multi-task table as bars (ours with 95% intervals, the paper's as
    diamonds). Right: the CG association, per in-distribution subset: related partners against
    the multi-task minus single-task gain (with its interval), Spearman's rho in the title."""
    s = next((x for x in results.multitask if x.scorer == scorer), None)
    if s is None:
        return None
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    kinds = (("zero-shot", "untrained", "#9e9e9e"), ("single-task", "single-task", "#e4a03a"),
             ("multi-task", "multi-task", "#2f7ab9"))
    roles = [r for r in ("in-distribution", "out-of-distribution") if r in s.averages]
    for j, (kind, label, color) in enumerate(kinds):
        for i, role in enumerate(roles):
            m = s.averages[role].get(kind)
            x = i + (j - 1) * 0.27
            if m is not None:
                ax.bar(x, 100 * m.mean, 0.25, color=color, label=label if i == 0 else None,
                       yerr=[[100 * (m.mean - m.ci_low)], [100 * (m.ci_high - m.mean)]], capsize=3)
            paper = s.paper.get(role, {}).get(kind)
            if paper is not None:
                ax.plot(x, 100 * paper, "D", color="k", markersize=5, label="Med-MAT paper" if (i, j) == (0, 0) else None)
    ax.set_xticks(range(len(roles)), [f"{r}\n({s.averages[r][next(iter(s.averages[r]))].n} subsets)" for r in roles],
                  fontsize=8)
    ax.set_ylim(0, 118)  # room above the bars for the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(f"accuracy % ({scorer} scorer)")
    ax.legend(fontsize=7, loc="upper center", ncol=4, handletextpad=0.3, columnspacing=0.8)
    ax.set_title("Averages (95% intervals: subsets x seeds)", fontsize=9)
    pts = [r for r in s.subsets if r.role == "in-distribution" and r.gain is not None]
    if pts:
        x = np.array([r.n_related for r in pts], float)
        jitter = (np.arange(len(pts)) % 5 - 2) * 0.06
        y = np.array([100 * r.gain.mean for r in pts])  # type: ignore[union-attr]
        err = np.array([[100 * (r.gain.mean - r.gain.ci_low), 100 * (r.gain.ci_high - r.gain.mean)]  # type: ignore[union-attr]
                        for r in pts]).T
        bx.errorbar(x + jitter, y, yerr=err, fmt="o", color="#2f7ab9", ecolor="#b8cfe4", markersize=4, capsize=2)
        bx.axhline(0, color="k", linewidth=0.8, linestyle=":")
    a = next((z for z in s.associations if z.primary), None)
    rho = "" if a is None or a.rho is None else f": Spearman rho {a.rho:+.2f} [{a.ci_low:+.2f}, {a.ci_high:+.2f}], p = {a.p_value:.3f}"
    bx.set_title(f"Gain by related partners (in-distribution subsets){rho}", fontsize=8)
    bx.set_xlabel("other in-distribution subsets sharing >= 1 element (related partners)")
    bx.xaxis.get_major_locator().set_params(integer=True)
    bx.set_ylabel("multi-task - single-task (points)")
    return _png(fig)


def dial_figure(results: StudyResults, scorer: str) -> bytes | None:
    """Leave-out arms across a study's cases (the entanglement dial): left, each arm's accuracy
    on the targets; right, the drop when one element's subsets are left out (95% intervals)."""
    sums = [s for s in results.leave_out if s.scorer == scorer and s.variant is None]
    if not sums:
        return None
    names = [s.case or "study" for s in sums]
    x = np.arange(len(sums))
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    colors = {"zero-shot": "#9e9e9e", "all-related": "#2f7ab9", "wo-modality": "#c0504d", "wo-area": "#4a9c5d",
              "wo-task": "#7b5ea7", "all-unrelated": "#e4a03a", "all-data": "#333333"}
    for arm, color in colors.items():
        ms = [s.arms.get(arm) for s in sums]
        if not any(ms):
            continue
        y = [100 * m.mean if m else np.nan for m in ms]
        err = [[100 * (m.mean - m.ci_low) if m else 0 for m in ms], [100 * (m.ci_high - m.mean) if m else 0 for m in ms]]
        ax.errorbar(x, y, yerr=err, marker="o", color=color, label=arm, capsize=3, linewidth=1.2)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"target accuracy % ({scorer} scorer)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("Leave-out arms by case", fontsize=9)
    for k, (e, color) in enumerate((("modality", "#c0504d"), ("area", "#4a9c5d"), ("task", "#7b5ea7"))):
        ms = [s.drops.get(e) for s in sums]
        if not any(ms):
            continue
        off = (k - 1) * 0.22
        bx.bar(x + off, [100 * m.mean if m else 0 for m in ms], 0.2, color=color, label=f"without {e}",
               yerr=[[100 * (m.mean - m.ci_low) if m else 0 for m in ms],
                     [100 * (m.ci_high - m.mean) if m else 0 for m in ms]], capsize=3)
    bx.axhline(0, color="k", linewidth=0.8)
    bx.set_xticks(x, names, fontsize=8)
    bx.set_ylabel("all-related minus arm (points)")
    bx.legend(fontsize=7)
    bx.set_title("What leaving out one element's subsets costs", fontsize=9)
    fig.tight_layout()
    return _png(fig)
