"""Evaluation: option scoring, generation + robust answer parsing, circular evaluation,
metrics with bootstrap intervals, and prediction/metric files (see docs/evaluation.md).

The eval stage's config is :class:`EvalConfig` and its operation :func:`evaluate_arm`
(``medmat eval`` and ``medmat run``); :func:`evaluate` is the engine beneath it.
Importing this package does not import torch; backbones do that when they run.
"""

from medmat.lazy import lazy_exports

_EXPORTS = {
    "EvalConfig": "config",
    "EvalError": "arm",
    "EvalItems": "arm",
    "EvalResult": "engine",
    "INVALID_HOWS": "medmat.answers",
    "Interval": "stats",
    "ParsedAnswer": "medmat.answers",
    "Prediction": "predictions",
    "SCORERS": "scorers",
    "VALID_HOWS": "medmat.answers",
    "align_by_item": "stats",
    "arm_items": "arm",
    "bootstrap_ci": "stats",
    "compute_metrics": "metrics",
    "correct_by_item": "results",
    "evaluate": "engine",
    "evaluate_arm": "arm",
    "in_distribution_items": "arm",
    "load_results": "results",
    "mean_gain_ci": "stats",
    "two_level_ci": "stats",
    "paired_diff_ci": "stats",
    "paired_gain": "results",
    "parse_answer": "medmat.answers",
    "rotate_item": "rotation",
    "rotations": "rotation",
    "scorer_block": "metrics",
    "subset_items": "arm",
    "write_results": "results",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
