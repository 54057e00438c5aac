"""Metrics drawn from prediction rows: per scorer, overall, per subset and per target triplet.

For each group and scorer (a "block"):
  n, n_correct, accuracy, ci_low, ci_high   plain accuracy on the original questions
                                            (rotation 0), 95% percentile bootstrap;
  n_invalid, invalid_rate                   answers the parser could not read (counted
                                            wrong in accuracy, reported apart);
  chance                                    mean of 1/n_options: the floor to beat;
  letter_distribution, answer_distribution  fractions of predicted letters (+ 'invalid')
                                            and of correct letters: position bias shows as
                                            a gap between the two (letter_counts and
                                            answer_counts: the same as counts);
  how                                       counts of parse verdicts ('argmax' for options);
  circular_* (only with circular evaluation) a question counts if every rotation is right;
                                            rotations: accuracy and letter use over all rows.
Box rows (the ``box`` scorer on grounding items, ``n_options`` 0) get a box block instead:
  kind 'box', n, n_correct, accuracy, ci_low, ci_high   Acc@0.5: answers with IoU >= 0.5;
  iou_threshold;
  mean_iou, mean_iou_ci_low, mean_iou_ci_high           mean IoU with the true box, an
                                                        INVALID answer counting 0;
  n_invalid, invalid_rate, how                          as above (parse_box's verdicts);
  chance                                                0.0: no floor is defined for a
                                                        free-text box;
  letter_* / answer_*                                   empty (a box has no letter).
Every number is computed from the rows, so identical rows + seed give identical bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

from medmat.evaluate.predictions import Prediction
from medmat.evaluate.stats import DEFAULT_BOOT, DEFAULT_CONFIDENCE, bootstrap_ci
from medmat.boxes import IOU_THRESHOLD
from medmat.records import LETTERS

METRICS_VERSION = 1


def _counts(letters: Iterable[str | None], width: int, with_invalid: bool) -> dict[str, int]:
    """Count per letter A.. up to the widest question (+ 'invalid'), zeros included."""
    counts = Counter("invalid" if x is None else x for x in letters)
    keys = list(LETTERS[:width]) + (["invalid"] if with_invalid else [])
    keys += sorted(k for k in counts if k not in keys)  # never drop a letter beyond the options
    return {k: counts.get(k, 0) for k in keys}


def _distribution(letters: Iterable[str | None], width: int, with_invalid: bool) -> dict[str, float]:
    counts = _counts(letters, width, with_invalid)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.items()}


def scorer_block(rows: Sequence[Prediction], circular: bool = False, n_boot: int = DEFAULT_BOOT, seed: int = 0,
                 confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """The metrics of one scorer on one group of rows (see the module docstring)."""
    plain = sorted((r for r in rows if r.rotation == 0), key=lambda r: r.item_id)
    if not plain:
        raise ValueError("no rotation-0 rows to compute metrics from")
    ids = [r.item_id for r in plain]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"item {dup!r} appears twice for scorer {plain[0].scorer!r}")
    boxes = sum(1 for r in plain if r.n_options == 0)
    if boxes:
        if boxes != len(plain):
            raise ValueError(f"scorer {plain[0].scorer!r} has both box rows and letter rows")
        return _box_block(plain, n_boot, seed, confidence)
    width = max(r.n_options for r in plain)
    ci = bootstrap_ci([float(r.correct) for r in plain], n_boot=n_boot, seed=seed, confidence=confidence)
    n_invalid = sum(1 for r in plain if r.pred is None)
    block: dict[str, Any] = {
        "n": len(plain),
        "n_correct": sum(1 for r in plain if r.correct),
        "accuracy": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
        "n_invalid": n_invalid, "invalid_rate": n_invalid / len(plain),
        "chance": sum(1.0 / r.n_options for r in plain) / len(plain),
        "letter_distribution": _distribution((r.pred for r in plain), width, with_invalid=True),
        "answer_distribution": _distribution((r.answer for r in plain), width, with_invalid=False),
        "letter_counts": _counts((r.pred for r in plain), width, with_invalid=True),
        "answer_counts": _counts((r.answer for r in plain), width, with_invalid=False),
        "how": dict(sorted(Counter(r.parsed_how for r in plain).items())),
    }
    if circular:
        block.update(_circular(rows, plain, width, n_boot, seed, confidence))
    return block


def _box_block(plain: Sequence[Prediction], n_boot: int, seed: int, confidence: float) -> dict[str, Any]:
    ci = bootstrap_ci([float(r.correct) for r in plain], n_boot=n_boot, seed=seed, confidence=confidence)
    miou = bootstrap_ci([float(r.iou or 0.0) for r in plain], n_boot=n_boot, seed=seed, confidence=confidence)
    n_invalid = sum(1 for r in plain if r.pred is None)
    return {
        "kind": "box", "n": len(plain), "n_correct": sum(1 for r in plain if r.correct),
        "accuracy": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "iou_threshold": IOU_THRESHOLD,
        "mean_iou": miou.estimate, "mean_iou_ci_low": miou.low, "mean_iou_ci_high": miou.high,
        "n_invalid": n_invalid, "invalid_rate": n_invalid / len(plain), "chance": 0.0,
        "how": dict(sorted(Counter(r.parsed_how for r in plain).items())),
        # no letters: empty, so readers of letter blocks find every key
        "letter_distribution": {}, "answer_distribution": {}, "letter_counts": {}, "answer_counts": {},
    }


def _circular(rows: Sequence[Prediction], plain: Sequence[Prediction], width: int, n_boot: int, seed: int,
              confidence: float) -> dict[str, Any]:
    by_item: dict[str, list[Prediction]] = defaultdict(list)
    for r in rows:
        by_item[r.item_id].append(r)
    all_right = []
    for r0 in plain:
        got = by_item[r0.item_id]
        rots = sorted(r.rotation for r in got)
        if rots != list(range(r0.n_options)):
            raise ValueError(f"item {r0.item_id!r}: circular rows have rotations {rots}, expected 0..{r0.n_options - 1}")
        all_right.append(float(all(r.correct for r in got)))
    ci = bootstrap_ci(all_right, n_boot=n_boot, seed=seed, confidence=confidence)
    return {
        "circular_accuracy": ci.estimate, "circular_ci_low": ci.low, "circular_ci_high": ci.high,
        "rotations": {
            "n_rows": len(rows),
            "accuracy": sum(1 for r in rows if r.correct) / len(rows),
            "invalid_rate": sum(1 for r in rows if r.pred is None) / len(rows),
            "letter_distribution": _distribution((r.pred for r in rows), width, with_invalid=True),
            "answer_distribution": _distribution((r.answer for r in rows), width, with_invalid=False),
        },
    }


def _blocks(rows: Sequence[Prediction], scorers: Sequence[str], **kw: Any) -> dict[str, Any]:
    by_scorer: dict[str, list[Prediction]] = defaultdict(list)
    for r in rows:
        by_scorer[r.scorer].append(r)
    return {s: scorer_block(by_scorer[s], **kw) for s in scorers if by_scorer.get(s)}


def compute_metrics(rows: Sequence[Prediction], circular: bool | None = None, n_boot: int = DEFAULT_BOOT,
                    seed: int = 0, confidence: float = DEFAULT_CONFIDENCE,
                    config: dict[str, Any] | None = None) -> dict[str, Any]:
    """metrics.json: ``overall``, ``subsets[id]`` and ``targets[triplet]``, each {scorer: block}.

    ``circular=None`` infers it from the rows (any rotation other than 0).
    """
    if not rows:
        raise ValueError("no predictions to compute metrics from")
    if circular is None:
        circular = any(r.rotation != 0 for r in rows)
    scorers = list(dict.fromkeys(r.scorer for r in rows))
    kw = dict(circular=circular, n_boot=n_boot, seed=seed, confidence=confidence)
    by_subset: dict[str, list[Prediction]] = defaultdict(list)
    by_target: dict[str, list[Prediction]] = defaultdict(list)
    for r in rows:
        by_subset[r.subset].append(r)
        by_target[r.triplet].append(r)
    return {
        "version": METRICS_VERSION,
        "config": {**(config or {}), "n_boot": n_boot, "seed": seed, "confidence": confidence},
        "scorers": scorers,
        "circular": circular,
        "overall": _blocks(rows, scorers, **kw),
        "subsets": {k: _blocks(v, scorers, **kw) for k, v in sorted(by_subset.items())},
        "targets": {k: _blocks(v, scorers, **kw) for k, v in sorted(by_target.items())},
    }
