"""Bootstrap intervals: contain the estimate, narrow with n, pair arms correctly, are seeded."""

from __future__ import annotations

import numpy as np
import pytest

from medmat.evaluate.stats import align_by_item, bootstrap_ci, mean_gain_ci, paired_diff_ci


def _bern(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def test_interval_contains_estimate_and_narrows_with_n():
    widths = []
    for n in (50, 500, 5000):
        x = _bern(n, 0.7, seed=n)
        ci = bootstrap_ci(x, n_boot=1000, seed=0)
        assert ci.estimate == pytest.approx(x.mean())
        assert ci.low <= ci.estimate <= ci.high
        assert ci.n == n and ci.n_boot == 1000 and ci.confidence == 0.95
        widths.append(ci.high - ci.low)
    assert widths[0] > widths[1] > widths[2]
    # about 2 * 1.96 * sqrt(p(1-p)/n) for a proportion
    assert widths[1] == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 500), rel=0.25)


def test_bootstrap_matches_item_resampling_in_distribution():
    """The multinomial shortcut gives the same interval as resampling items by index."""
    x = _bern(400, 0.6, seed=3)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, x.size, size=(4000, x.size))
    lo, hi = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    ci = bootstrap_ci(x, n_boot=4000, seed=7)
    assert ci.low == pytest.approx(lo, abs=0.012) and ci.high == pytest.approx(hi, abs=0.012)


def test_seeded_and_deterministic():
    x = _bern(300, 0.5, seed=1)
    assert bootstrap_ci(x, seed=4) == bootstrap_ci(list(x), seed=4)
    assert bootstrap_ci(x, seed=4) != bootstrap_ci(x, seed=5)


def test_degenerate_and_bad_input():
    ci = bootstrap_ci([1, 1, 1, 1])
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="no values"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1, 0], confidence=1.5)


def test_paired_diff_excludes_zero_for_better_arm_and_includes_it_for_identical():
    b = _bern(300, 0.5, seed=10)
    better = b.copy()
    better[np.flatnonzero(b == 0)[:60]] = 1.0  # arm a fixes 60 of b's mistakes, breaks none
    d = paired_diff_ci(better, b, seed=0)
    assert d.estimate == pytest.approx(60 / 300)
    assert d.low > 0
    same = paired_diff_ci(b, b.copy(), seed=0)
    assert same.estimate == 0 and same.low <= 0 <= same.high
    noisy = paired_diff_ci(_bern(300, 0.5, seed=11), _bern(300, 0.5, seed=12), seed=0)
    assert noisy.contains(0.0)


def test_pairing_is_tighter_than_unpaired_for_correlated_arms():
    b = _bern(400, 0.6, seed=20)
    a = b.copy()
    a[np.flatnonzero(b == 0)[:20]] = 1.0
    paired = paired_diff_ci(a, b, seed=0)
    ca, cb = bootstrap_ci(a, seed=1), bootstrap_ci(b, seed=2)
    assert (paired.high - paired.low) < 0.5 * ((ca.high - ca.low) + (cb.high - cb.low))
    with pytest.raises(ValueError, match="same items"):
        paired_diff_ci(a, b[:-1])


def test_mean_gain_over_targets():
    per_target = {}
    for t in range(5):
        b = _bern(120, 0.4, seed=100 + t)
        a = b.copy()
        a[np.flatnonzero(b == 0)[:24]] = 1.0  # +0.2 on every target
        per_target[f"target-{t}"] = (a, b)
    g = mean_gain_ci(per_target, seed=0)
    assert g.estimate == pytest.approx(0.2) and g.n == 5 and g.low > 0.1
    # order of the mapping does not matter
    assert mean_gain_ci(dict(reversed(list(per_target.items()))), seed=0) == g
    none = mean_gain_ci({k: (b, b) for k, (_, b) in per_target.items()}, seed=0)
    assert none.estimate == 0 and none.contains(0.0)
    # equal weight per target: a tiny target counts as much as a big one
    skew = mean_gain_ci({"big": (np.ones(1000), np.zeros(1000)), "small": (np.zeros(10), np.zeros(10))})
    assert skew.estimate == pytest.approx(0.5)


def test_align_by_item():
    a, b = align_by_item({"x": True, "y": False}, {"y": True, "x": True})
    assert a.tolist() == [1.0, 0.0] and b.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="different items"):
        align_by_item({"x": True}, {"z": True})
