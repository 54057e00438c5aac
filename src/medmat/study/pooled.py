"""One study's results pooled over its seeds: the paper-style table (Table 3) as data.

A *row* is one comparison: a target and one related arm (its direction type), the
unrelated arm matched to it, the zero-shot arm, and the vocabulary controls when planned.
Each row is measured in every seed of the study; a row's numbers are means over seeds and
its gain interval resamples seeds, then items within each seed (paired). Summaries (per
direction type and overall) average rows with a rows x seeds bootstrap: rows are
resampled, then seeds within each row, so the interval covers both which targets a study
happens to have and how much a row moves between seeds. A single-seed study is the same
computation with one seed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from medmat.study.results import PooledRow, PooledSummary, ResultRow

CONTROL_KINDS = {"related-shuffled": "related_shuffled", "unrelated-vocab": "unrelated_vocab"}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def pool(rows: list[ResultRow], pairs: dict[tuple[int, str, str, str], tuple[np.ndarray, np.ndarray]],
         n_boot: int, seed: int) -> tuple[list[PooledRow], list[PooledSummary]]:
    """Rows and summaries pooled over seeds.

    ``rows``: every ResultRow of every seed (``seed`` set); ``pairs``: (seed, scorer,
    target, related arm) -> paired correctness of the related and its unrelated arm on
    the same target items.
    """
    from medmat.evaluate.stats import two_level_ci

    by_key: dict[tuple[int, str, str, str], ResultRow] = {(r.seed or 0, r.scorer, r.target, r.arm): r for r in rows}
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for (s, scorer, target, arm) in pairs:
        groups[(scorer, target, arm)].append(s)
    pooled: list[PooledRow] = []
    for (scorer, target, arm), seeds in sorted(groups.items()):
        seeds = sorted(seeds)
        rel = [by_key[(s, scorer, target, arm)] for s in seeds]
        first = rel[0]
        tail = arm.removeprefix("related-")

        def acc(name: str, field: str = "accuracy") -> float | None:
            got = [getattr(by_key[(s, scorer, target, name)], field) for s in seeds
                   if (s, scorer, target, name) in by_key]
            got = [g for g in got if g is not None]
            return _mean(got)

        zero = [r for r in rows if r.scorer == scorer and r.target == target and r.kind == "zero-shot"
                and (r.seed or 0) in seeds]
        ci = two_level_ci([pairs[(s, scorer, target, arm)][0] - pairs[(s, scorer, target, arm)][1] for s in seeds],
                          n_boot=n_boot, seed=seed)
        unrelated_arm = f"unrelated-{tail}"
        pooled.append(PooledRow(
            scorer=scorer, target=target, target_subset=first.target_subset, direction=first.direction,
            related_arm=arm, unrelated_arm=unrelated_arm, sources=first.sources, n_train=first.n_train, seeds=seeds,
            zero_shot=_mean([r.accuracy for r in zero]), unrelated=acc(unrelated_arm) or 0.0,
            related=float(np.mean([r.accuracy for r in rel])),
            related_shuffled=acc(f"related-shuffled-{tail}"), unrelated_vocab=acc(f"unrelated-vocab-{tail}"),
            gain=ci.estimate, gain_ci_low=ci.low, gain_ci_high=ci.high,
            related_in_distribution=acc(arm, "in_distribution_accuracy"),
            unrelated_in_distribution=acc(unrelated_arm, "in_distribution_accuracy"),
        ))
    summaries = [_summary(scorer, direction, sel, pairs, n_boot, seed)
                 for scorer in sorted({p.scorer for p in pooled})
                 for direction, sel in _by_direction([p for p in pooled if p.scorer == scorer])]
    return pooled, summaries


def _by_direction(rows: list[PooledRow]) -> list[tuple[str | None, list[PooledRow]]]:
    out: dict[str, list[PooledRow]] = defaultdict(list)
    for r in rows:
        out[r.direction or "related"].append(r)
    return [(d, out[d]) for d in sorted(out)] + [(None, rows)]


def _summary(scorer: str, direction: str | None, rows: list[PooledRow], pairs: dict, n_boot: int,
             seed: int) -> PooledSummary:
    from medmat.evaluate.stats import two_level_ci

    per_row = [[float(pairs[(s, scorer, r.target, r.related_arm)][0].mean()
                      - pairs[(s, scorer, r.target, r.related_arm)][1].mean()) for s in r.seeds] for r in rows]
    ci = two_level_ci(per_row, n_boot=n_boot, seed=seed)

    def mean_of(field: str) -> float | None:
        vals = [getattr(r, field) for r in rows if getattr(r, field) is not None]
        return _mean(vals)

    return PooledSummary(
        scorer=scorer, direction=direction, n_rows=len(rows), n_seeds=len({s for r in rows for s in r.seeds}),
        mean_zero_shot=mean_of("zero_shot"), mean_unrelated=mean_of("unrelated"), mean_related=mean_of("related"),
        mean_related_shuffled=mean_of("related_shuffled"), mean_unrelated_vocab=mean_of("unrelated_vocab"),
        mean_gain=ci.estimate, gain_ci_low=ci.low, gain_ci_high=ci.high,
        related_beats_unrelated=sum(1 for r in rows if r.related > r.unrelated),
        related_beats_zero_shot=sum(1 for r in rows if r.zero_shot is not None and r.related > r.zero_shot),
    )


def paper_reference() -> dict[str, Any]:
    """Med-MAT's Table 3 (v1, as reproduced by review sites), to print beside ours."""
    return {"rows": 42, "zero_shot": 0.386, "unrelated": 0.401, "related": 0.507, "related_beats_zero_shot": 40}
