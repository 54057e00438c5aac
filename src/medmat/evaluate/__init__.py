"""Evaluation: option scoring, generation + robust answer parsing, circular evaluation,
metrics with bootstrap intervals, and prediction/metric files (see docs/evaluation.md).

Importing this package does not import torch; backbones do that when they run.
"""

from medmat.evaluate.metrics import compute_metrics, scorer_block
from medmat.evaluate.parser import INVALID_HOWS, VALID_HOWS, ParsedAnswer, parse_answer
from medmat.evaluate.predictions import Prediction
from medmat.evaluate.results import correct_by_item, load_results, paired_gain, write_results
from medmat.evaluate.rotation import rotate_item, rotations
from medmat.evaluate.runner import EvalResult, evaluate
from medmat.evaluate.scorers import SCORERS
from medmat.evaluate.stats import Interval, align_by_item, bootstrap_ci, mean_gain_ci, paired_diff_ci

__all__ = [
    "EvalResult", "INVALID_HOWS", "Interval", "ParsedAnswer", "Prediction", "SCORERS", "VALID_HOWS",
    "align_by_item", "bootstrap_ci", "compute_metrics", "correct_by_item", "evaluate", "load_results",
    "mean_gain_ci", "paired_diff_ci", "paired_gain", "parse_answer", "rotate_item", "rotations", "scorer_block", "write_results",
]
