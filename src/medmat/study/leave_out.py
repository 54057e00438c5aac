"""Leave-one-element-out arms averaged over a study's targets and seeds (plan arms ``leave-out``).

The paper's multi-task analysis asks which element of the related data carries the transfer:
all-related against all-related without the subsets sharing the target's modality (area,
task). Per scorer, train variant (and, via the runner, case):

* ``arms``: each arm's accuracy, the mean over target x seed comparisons, its interval
  resampling items within each (conditional on these targets: few targets make a
  targets-resampled interval meaningless);
* ``drops``: all-related minus wo-<element>, paired on the same target items, same interval.

A drop near zero means the element's subsets were not needed (the others supplied it); a
large drop means that element carried the transfer.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from medmat.study.results import LeaveOutSummary, Mean

if TYPE_CHECKING:
    from medmat.study.aggregate import Collected

ARMS = ("zero-shot", "all-related", "wo-modality", "wo-area", "wo-task", "all-unrelated", "all-data")
ELEMENTS = ("modality", "area", "task")


def leave_out_summaries(collected: "Collected", n_boot: int, seed: int) -> list[LeaveOutSummary]:
    """One summary per train variant and scorer; none without leave-out arms."""
    from medmat.evaluate import align_by_item, mean_gain_ci

    rows = [r for r in collected.rows if r.kind == "leave-out"]
    if not rows:
        return []
    out = []
    for variant in dict.fromkeys(r.variant for r in rows):
        correct = collected.correct.get(variant, {})
        for scorer in dict.fromkeys(r.scorer for r in rows):
            mine = [r for r in collected.rows if r.variant == variant and r.scorer == scorer and r.arm in ARMS]
            keys = sorted({(r.seed or 0, r.target) for r in mine})
            arms, drops = {}, {}
            for arm in ARMS:
                per = {f"{s}|{t}": (np.asarray(list(c.values()), float), np.zeros(len(c)))
                       for s, t in keys if (c := correct.get((s, scorer, t, arm)))}
                if per:
                    ci = mean_gain_ci(per, n_boot=n_boot, seed=seed)
                    arms[arm] = Mean(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=ci.n)
            for e in ELEMENTS:
                per = {}
                for s, t in keys:
                    a, b = correct.get((s, scorer, t, "all-related")), correct.get((s, scorer, t, f"wo-{e}"))
                    if a is not None and b is not None:
                        x, y = align_by_item(a, b)
                        per[f"{s}|{t}"] = (x.astype(float), y.astype(float))
                if per:
                    ci = mean_gain_ci(per, n_boot=n_boot, seed=seed)
                    drops[e] = Mean(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=ci.n)
            indist: dict[str, list[float]] = defaultdict(list)
            for r in mine:
                if r.in_distribution_accuracy is not None:
                    indist[r.arm].append(r.in_distribution_accuracy)
            out.append(LeaveOutSummary(
                scorer=scorer, variant=variant, targets=sorted({t for _, t in keys}),
                seeds=sorted({s for s, _ in keys}), arms=arms, drops=drops,
                in_distribution={a: float(np.mean(v)) for a, v in indist.items()}))
    return out
