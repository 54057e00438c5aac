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
    if not rows:
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
