"""Bootstrap intervals for accuracies and for paired differences between arms.

A CG study compares arms on the SAME test items ("related minus unrelated"), so the
interval that matters is the one of the paired difference, not two overlapping marginal
intervals. Everything here is a percentile bootstrap, seeded, and vectorised.

Resampling n values with replacement is the same, in distribution, as drawing the counts
of each distinct value from a multinomial with the observed frequencies. Correctness
values are 0/1 (and paired differences -1/0/1), so each resample costs O(#distinct
values) instead of O(n): 1000 resamples of 100k items take milliseconds. The estimator
is exactly the textbook item-resampling bootstrap, only cheaper to draw. Continuous values
with many distinct values (IoUs of box answers) are resampled by item index instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from medmat.evaluate.config import DEFAULT_BOOT

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (percentile bootstrap) confidence interval."""

    estimate: float
    low: float
    high: float
    n: int
    n_boot: int
    confidence: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _as_1d(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{what}: no values to bootstrap")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: values must be finite")
    return x


MULTINOMIAL_MAX_DISTINCT = 1024
"""Above this many distinct values (continuous ones such as IoUs) resamples draw item
indices in chunks instead of multinomial counts, which would need n_boot x distinct memory."""


def _resampled_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``x`` (with replacement), via multinomial counts."""
    uniq, counts = np.unique(x, return_counts=True)
    n = x.size
    if uniq.size > MULTINOMIAL_MAX_DISTINCT:
        chunk = max(1, 2_000_000 // n)
        return np.concatenate([x[rng.integers(0, n, size=(min(chunk, n_boot - i), n))].mean(axis=1)
                               for i in range(0, n_boot, chunk)])
    draws = rng.multinomial(n, counts / n, size=n_boot)  # (n_boot, n_distinct)
    return draws @ uniq / n


def _percentiles(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def _check(n_boot: int, confidence: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = DEFAULT_BOOT, seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Mean of ``values`` (e.g. 0/1 correctness) with a percentile bootstrap interval."""
    _check(n_boot, confidence)
    x = _as_1d(values, "bootstrap_ci")
    means = _resampled_means(x, n_boot, np.random.default_rng(seed))
    lo, hi = _percentiles(means, confidence)
    est = float(x.mean())
    return Interval(est, min(lo, est), max(hi, est), int(x.size), n_boot, confidence)


def paired_diff_ci(
    correct_a: Sequence[float] | np.ndarray, correct_b: Sequence[float] | np.ndarray,
    n_boot: int = DEFAULT_BOOT, seed: int = 0, confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """mean(a) - mean(b) over the same items, resampling items (pairs) together.

    ``correct_a[i]`` and ``correct_b[i]`` must refer to the same test item; align them
    by item_id first (``align_by_item``).
    """
    _check(n_boot, confidence)
    a = _as_1d(correct_a, "paired_diff_ci (a)")
    b = _as_1d(correct_b, "paired_diff_ci (b)")
    if a.shape != b.shape:
        raise ValueError(f"paired_diff_ci: arms have {a.size} and {b.size} items; they must be the same items")
    return bootstrap_ci(a - b, n_boot=n_boot, seed=seed, confidence=confidence)


def mean_gain_ci(
    per_target: Mapping[str, tuple[Sequence[float], Sequence[float]]], n_boot: int = DEFAULT_BOOT,
    seed: int = 0, confidence: float = DEFAULT_CONFIDENCE,
) -> Interval:
    """Mean over targets of (accuracy a - accuracy b), each target weighted equally.

    The bootstrap resamples items within each target (stratified), so a target with few
    test items widens the interval instead of being dropped. ``n`` is the number of
    targets. Targets are visited in sorted order, so the result does not depend on the
    mapping's order.
    """
    _check(n_boot, confidence)
    if not per_target:
        raise ValueError("mean_gain_ci: no targets")
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    point = 0.0
    for name in sorted(per_target):
        a, b = per_target[name]
        a_ = _as_1d(a, f"mean_gain_ci[{name}] (a)")
        b_ = _as_1d(b, f"mean_gain_ci[{name}] (b)")
        if a_.shape != b_.shape:
            raise ValueError(f"mean_gain_ci[{name}]: arms have {a_.size} and {b_.size} items")
        d = a_ - b_
        total += _resampled_means(d, n_boot, rng)
        point += float(d.mean())
    k = len(per_target)
    lo, hi = _percentiles(total / k, confidence)
    est = point / k
    return Interval(est, min(lo, est), max(hi, est), k, n_boot, confidence)


def two_level_ci(groups: Sequence[Sequence[float]], n_boot: int = DEFAULT_BOOT, seed: int = 0,
                 confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Mean over groups of each group's mean, with a two-level bootstrap: resample the
    groups, then the values within each chosen group.

    For a study pooled over seeds this is the seed-aware interval: groups = rows of the
    table and values = a row's gain in each seed (rows x seeds), or groups = seeds and
    values = paired item differences (one row over seeds x items). With one group it is
    the ordinary bootstrap of that group's mean. ``n`` is the number of groups.
    """
    _check(n_boot, confidence)
    arrays = [_as_1d(g, f"two_level_ci[group {i}]") for i, g in enumerate(groups)]
    if not arrays:
        raise ValueError("two_level_ci: no groups")
    rng = np.random.default_rng(seed)
    within = np.stack([_resampled_means(a, n_boot, rng) for a in arrays])  # (groups, n_boot)
    k = len(arrays)
    pick = rng.integers(0, k, size=(n_boot, k)) if k > 1 else np.zeros((n_boot, 1), dtype=np.int64)
    means = within[pick, np.arange(n_boot)[:, None]].mean(axis=1)
    est = float(np.mean([a.mean() for a in arrays]))
    lo, hi = _percentiles(means, confidence)
    return Interval(est, min(lo, est), max(hi, est), k, n_boot, confidence)


def align_by_item(rows_a: Mapping[str, bool], rows_b: Mapping[str, bool]) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two arms on the items both evaluated, in sorted item_id order.

    Raises when the arms were not evaluated on the same items: a paired comparison on
    different items would be silently wrong.
    """
    if set(rows_a) != set(rows_b):
        only_a, only_b = sorted(set(rows_a) - set(rows_b)), sorted(set(rows_b) - set(rows_a))
        raise ValueError(
            f"arms were evaluated on different items ({len(only_a)} only in a, e.g. {only_a[:3]}; "
            f"{len(only_b)} only in b, e.g. {only_b[:3]})"
        )
    ids = sorted(rows_a)
    return (np.array([float(rows_a[i]) for i in ids]), np.array([float(rows_b[i]) for i in ids]))

