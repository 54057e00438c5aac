"""The eval stage's one operation, :func:`evaluate_arm` (``medmat eval`` and ``medmat run``).

What is evaluated is an :class:`EvalItems`: an arm's target test items (:func:`arm_items`),
the test items of the subsets the arm trained on (:func:`in_distribution_items`), or a
store subset (:func:`subset_items`). Each selector checks its input the same way for
every caller: missing item ids are errors, a store changed since planning is a warning
recorded in the metrics. ``evaluate_arm`` resumes an interrupted evaluation from the
partial rows it saves every ``save_every`` seconds, so the bytes it finally writes are
those of an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medmat.evaluate.config import EvalConfig
from medmat.evaluate.predictions import Prediction
from medmat.evaluate.results import write_results
from medmat.evaluate.engine import EvalResult, evaluate
from medmat.io import dumps, read_jsonl, stable_hash, write_jsonl
from medmat.models import open_backbone
from medmat.models.base import ModelConfig
from medmat.progress import Reporter
from medmat.records import VQAItem
from medmat.store import VQAStore, cap_balanced


class EvalError(ValueError):
    pass


@dataclass
class EvalItems:
    """Questions to ask, where their images are, and what they are (recorded in metrics.json)."""

    items: list[VQAItem]
    store_root: Path
    context: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _arm(manifest_path: str | Path) -> tuple[Any, VQAStore, list[str]]:
    from medmat.plan import load_manifest

    manifest = load_manifest(manifest_path)
    store = VQAStore(manifest.store_path(manifest_path))
    warnings = []
    if manifest.store_fingerprint and store.fingerprint() != manifest.store_fingerprint:
        warnings.append(f"store {store.root} changed since the manifest was planned (fingerprint differs); "
                        "evaluating the listed items as they are now")
    return manifest, store, warnings


def arm_items(manifest_path: str | Path, arm_name: str) -> EvalItems:
    """The target test items of one arm of a manifest."""
    manifest, store, warnings = _arm(manifest_path)
    arm = manifest.arm(arm_name)
    if not arm.test:
        raise EvalError(f"arm {arm_name!r} of {manifest_path} has no test items")
    by_id = store.by_id()
    missing = [i for i in arm.test if i not in by_id]
    if missing:
        raise EvalError(f"arm {arm_name!r} lists {len(missing)} test items not in store {store.root} "
                        f"(e.g. {missing[:3]}); was the store rebuilt after planning?")
    context = {"manifest": str(manifest_path), "arm": arm_name, "target": manifest.target,
               "target_subset": manifest.target_subset}
    return EvalItems([by_id[i] for i in arm.test], store.root, context, warnings)


def in_distribution_items(manifest_path: str | Path, arm_name: str, max_items: int, seed: int) -> EvalItems:
    """Test items of the subsets the arm trained on (at most ``max_items``, label-balanced):
    what the model learned where it was trained, beside what it does on the unseen target.
    Empty for an arm that trains on nothing."""
    manifest, store, warnings = _arm(manifest_path)
    arm = manifest.arm(arm_name)
    pool = [it for sid in arm.train_subsets if sid != manifest.target_subset for it in store.items(sid, "test")]
    items = cap_balanced(pool, max_items, seed) if arm.train and max_items else []
    context = {"manifest": str(manifest_path), "arm": arm_name, "target": manifest.target,
               "in_distribution": sorted(arm.train_subsets)}
    return EvalItems(items, store.root, context, warnings)


def subset_items(store_root: str | Path, subset: str, split: str = "test") -> EvalItems:
    """Every item of one split of one store subset."""
    store = VQAStore(store_root)
    items = store.items(subset, split)
    if not items:
        raise EvalError(f"store {store.root} has no {split!r} items in subset {subset!r} "
                        f"(subsets: {', '.join(sorted(store.subsets()))})")
    return EvalItems(items, store.root, {"store": str(store.root), "subset": subset, "split": split})


def partial_path(out_dir: Path, identity: dict[str, Any]) -> Path:
    """Where rows of an unfinished evaluation are kept; the name encodes what is evaluated,
    so a partial file is only ever reused by the same evaluation."""
    return out_dir / f".partial-{stable_hash(dumps(identity))}.jsonl"


def _resume_rows(path: Path, reporter: Reporter) -> list[Prediction]:
    if not path.is_file():
        return []
    try:
        rows = [Prediction.from_dict(d) for d in read_jsonl(path)]
    except ValueError as e:
        reporter.say(f"warning: ignoring unreadable partial results {path}: {e}")
        return []
    reporter.say(f"resuming: {len(rows)} answers reused from {path}")
    return rows


class _Saver:
    """Saves the rows so far (atomically) at most every ``every`` seconds."""

    def __init__(self, path: Path, every: float):
        self.path, self.every, self._last = path, every, time.monotonic()

    def __call__(self, rows: list[Prediction]) -> None:
        if time.monotonic() - self._last >= self.every:
            write_jsonl(self.path, (r.to_dict() for r in rows))
            self._last = time.monotonic()


def evaluate_arm(what: EvalItems, model: ModelConfig, checkpoint: str | Path | None, cfg: EvalConfig,
                 out_dir: str | Path | None = None, *, resume: bool = True, reporter: Reporter | None = None,
                 save_every: float = 30.0) -> EvalResult:
    """Ask ``model`` (loaded from ``checkpoint``) every question of ``what`` with each scorer.

    With ``out_dir``: predictions.jsonl + metrics.json are written there, and with
    ``resume`` the partial rows of an interrupted run of the same evaluation are reused.
    """
    reporter = reporter or Reporter()
    for w in what.warnings:
        reporter.say(f"warning: {w}")
    if not what.items:
        raise EvalError("no items to evaluate")
    try:
        backbone = open_backbone(model, checkpoint)
    except (ValueError, FileNotFoundError, OSError) as e:
        raise EvalError(f"cannot load backbone {model.backbone!r} from {checkpoint}: {e}") from None
    partial, done, saver = None, [], None
    if out_dir is not None:
        out_dir = Path(out_dir)
        identity = {"backbone": model.backbone, "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None,
                    "options": model.options, "scorers": cfg.scorers, "circular": cfg.circular,
                    "batch_size": cfg.batch_size, "max_new_tokens": cfg.max_new_tokens, "items": sorted(it.item_id for it in what.items)}
        partial = partial_path(out_dir, identity)
        if resume:
            done = _resume_rows(partial, reporter)
        saver = _Saver(partial, save_every)
    with reporter.task("evaluating") as task:
        progress: Callable[[int, int], None] = lambda n, total: task.update(completed=n, total=total)  # noqa: E731
        result = evaluate(backbone, what.items, what.store_root, scorers=cfg.scorers, circular=cfg.circular,
                          batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                          n_boot=cfg.n_boot, done=done, on_batch=saver, progress=progress)
    result.metrics["config"].update({**what.context, "checkpoint": str(checkpoint) if checkpoint else None,
                                     "warnings": list(what.warnings)})
    if out_dir is not None:
        write_results(result, out_dir)
        if partial is not None:
            partial.unlink(missing_ok=True)
    return result
