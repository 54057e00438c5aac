"""Results on disk: predictions.jsonl (one row per item x scorer x rotation) + metrics.json.

Both are written atomically (medmat.io), with sorted keys, so the same evaluation gives
identical bytes. Reports and arm comparisons read them back with ``load_results``.
"""

from __future__ import annotations

from pathlib import Path

from medmat.evaluate.predictions import Prediction
from medmat.evaluate.engine import EvalResult
from medmat.evaluate.stats import DEFAULT_BOOT, Interval, align_by_item, paired_diff_ci
from medmat.io import read_json, read_jsonl, write_json, write_jsonl

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def write_results(result: EvalResult, out_dir: str | Path) -> Path:
    """Write predictions.jsonl and metrics.json into ``out_dir`` (created); returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / PREDICTIONS, (p.to_dict() for p in result.predictions))
    write_json(out / METRICS, result.metrics)
    return out


def load_results(out_dir: str | Path) -> EvalResult:
    """Read back what ``write_results`` wrote; a missing file is a clear error."""
    out = Path(out_dir)
    missing = [f for f in (PREDICTIONS, METRICS) if not (out / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} holds no evaluation results (missing {', '.join(missing)})")
    rows = [Prediction.from_dict(d) for d in read_jsonl(out / PREDICTIONS)]
    return EvalResult(rows, read_json(out / METRICS))


def correct_by_item(result: EvalResult, scorer: str = "option", circular: bool = False) -> dict[str, bool]:
    """item_id -> right or wrong, for pairing two arms (``stats.align_by_item``).

    With ``circular`` an item is right only if every rotation is; otherwise rotation 0.
    """
    out: dict[str, bool] = {}
    for p in result.predictions:
        if p.scorer != scorer or (not circular and p.rotation != 0):
            continue
        out[p.item_id] = out.get(p.item_id, True) and p.correct
    if not out:
        raise ValueError(f"no predictions of scorer {scorer!r} in these results")
    return out


def paired_gain(result_a: EvalResult, result_b: EvalResult, scorer: str = "option", circular: bool = False,
                n_boot: int = DEFAULT_BOOT, seed: int = 0) -> Interval:
    """Accuracy of arm a minus arm b on the same items ("related minus unrelated"), paired.

    Raises when the two results cover different items.
    """
    a, b = align_by_item(correct_by_item(result_a, scorer, circular), correct_by_item(result_b, scorer, circular))
    return paired_diff_ci(a, b, n_boot=n_boot, seed=seed)
