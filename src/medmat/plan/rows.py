"""Which rows a whole-store plan keeps: rules fixed before any training.

* ``sample_targets``: a seeded draw of N eligible targets (``draw_seed``, the same for
  every seed of a study), so a demo's targets are not picked by name after seeing which
  tasks transfer.
* ``rows_per_target``: each target keeps at most N direction types; targets are visited in
  subset order and each takes the available types used least so far (ties in the order
  of DIRECTION_ORDER), so the types stay balanced. With the paper's four types and one row
  per target this gives the synthetic design's Table 3 (one row per eligible target).
"""

from __future__ import annotations

import random
from collections import Counter

from medmat.plan.config import PlanConfig
from medmat.plan.elements import DIRECTION_ORDER, enumerate_combos, to_triplet
from medmat.plan.sampling import StoreIndex


def draw_targets(targets: list[str], config: PlanConfig) -> list[str]:
    """``config.sample_targets`` of ``targets`` (seeded by ``draw_seed``), in their order."""
    n = config.sample_targets
    if n is None or n >= len(targets):
        return list(targets)
    chosen = set(random.Random(config.draw_seed).sample(sorted(targets), n))
    return [t for t in targets if t in chosen]


def available_directions(index: StoreIndex, subset: str, config: PlanConfig) -> list[str]:
    """The direction types (of those asked for) with at least one related combination."""
    from medmat.plan.planner import candidates_for

    cands, _ = candidates_for(index, to_triplet(index.infos[subset].triplet), subset, config.cross_kind)
    rel = [c for c in cands if c.related and c.n_train]
    return [d for d in (config.directions or DIRECTION_ORDER) if enumerate_combos(rel, d, 1)]


def assign_directions(index: StoreIndex, subsets: dict[str, str], config: PlanConfig) -> dict[str, list[str]]:
    """target -> the direction types it keeps (every available one without ``rows_per_target``)."""
    used: Counter[str] = Counter()
    out: dict[str, list[str]] = {}
    for target, subset in sorted(subsets.items(), key=lambda kv: kv[1]):
        have = available_directions(index, subset, config)
        if config.rows_per_target is not None:
            have = sorted(have, key=lambda d: (used[d], DIRECTION_ORDER.index(d)))[: config.rows_per_target]
            have = [d for d in DIRECTION_ORDER if d in have]
        used.update(have)
        out[target] = have
    return out
