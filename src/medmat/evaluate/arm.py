"""The eval stage's one operation, :func:`evaluate_arm` (``medmat eval`` and ``medmat run``).

What is evaluated is an :class:`EvalItems`: an arm's target test items (:func:`arm_items`),
the test items of the subsets the arm trained on (:func:`in_distribution_items`), or a
store subset (:func:`subset_items`). Each selector checks its input the same way for
every caller: missing item ids are errors, a store changed since planning is a warning
recorded in the metrics. ``evaluate_arm`` resumes an interrupted evaluation from the
partial rows it saves every ``save_every`` seconds, so the bytes it finally writes are
those of an uninterrupted run.

Under ``accelerate launch`` / ``torchrun`` every rank calls ``evaluate_arm`` with the same
arguments: each asks its share of the questions (``evaluate/shards.py``), the rows are
gathered, and rank 0 alone writes predictions.jsonl and metrics.json, identical to a
single process's. Each rank keeps its own partial rows (``.partial-<key>.rank<r>.jsonl``),
and a resumed evaluation reuses the partial rows of every rank, whatever the number of
processes was before. A rank that fails to load the model or to score its share makes
every rank raise :class:`EvalError` with that rank's message, and nothing is written.
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
from medmat.evaluate.shards import Shard, ShardError
from medmat.io import dumps, read_jsonl, stable_hash, write_jsonl
from medmat.models import open_backbone
from medmat.models.base import ModelConfig
from medmat.progress import Reporter
from medmat.records import VQAItem
from medmat.runtime import LaunchError, agree, join_launch
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


def partial_path(out_dir: Path, identity: dict[str, Any], shard: Shard | None = None) -> Path:
    """Where rows of an unfinished evaluation are kept; the name encodes what is evaluated,
    so a partial file is only ever reused by the same evaluation (each rank of a sharded
    evaluation keeps its own)."""
    key = stable_hash(dumps(identity))
    rank = f".rank{shard.rank}" if shard is not None and shard.sharded else ""
    return out_dir / f".partial-{key}{rank}.jsonl"


def _partial_files(out_dir: Path, identity: dict[str, Any]) -> list[Path]:
    """The partial files of this evaluation left by any earlier run, sharded or not."""
    key = stable_hash(dumps(identity))
    return sorted(out_dir.glob(f".partial-{key}.jsonl")) + sorted(out_dir.glob(f".partial-{key}.rank*.jsonl"))


def _resume_rows(paths: list[Path], reporter: Reporter) -> list[Prediction]:
    rows: list[Prediction] = []
    for path in paths:
        if not path.is_file():
            continue
        try:
            found = [Prediction.from_dict(d) for d in read_jsonl(path)]
        except ValueError as e:
            reporter.say(f"warning: ignoring unreadable partial results {path}: {e}")
            continue
        reporter.say(f"resuming: {len(found)} answers reused from {path}")
        rows += found
    return rows


class _Saver:
    """Saves the rows so far (atomically) at most every ``every`` seconds."""

    def __init__(self, path: Path, every: float):
        self.path, self.every, self._last = path, every, time.monotonic()

    def __call__(self, rows: list[Prediction]) -> None:
        if time.monotonic() - self._last >= self.every:
            write_jsonl(self.path, (r.to_dict() for r in rows))
            self._last = time.monotonic()


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def evaluate_arm(what: EvalItems, model: ModelConfig, checkpoint: str | Path | None, cfg: EvalConfig,
                 out_dir: str | Path | None = None, *, resume: bool = True, reporter: Reporter | None = None,
                 save_every: float = 30.0, shard: Shard | None = None) -> EvalResult:
    """Ask ``model`` (loaded from ``checkpoint``) every question of ``what`` with each scorer.

    With ``out_dir``: predictions.jsonl + metrics.json are written there, and with
    ``resume`` the partial rows of an interrupted run of the same evaluation are reused.
    ``shard``: default, this process's place in the launch (module docstring); every rank
    returns the whole result, only rank 0 writes it.
    """
    shard = shard or Shard.of_launch()
    reporter = reporter or Reporter()
    if shard.rank != 0:
        reporter = Reporter()  # rank 0 speaks for the launch
    for w in what.warnings:
        reporter.say(f"warning: {w}")
    if not what.items:
        raise EvalError("no items to evaluate")
    try:
        if shard.sharded:
            join_launch()
            reporter.say(f"evaluating {len(what.items)} items on {shard.world} processes")
        backbone, failed = None, None
        try:
            backbone = open_backbone(model, checkpoint)
        except Exception as e:
            if not shard.sharded:
                if isinstance(e, (ValueError, FileNotFoundError, OSError)):
                    raise EvalError(f"cannot load backbone {model.backbone!r} from {checkpoint}: {e}") from None
                raise
            failed = _error(e)  # every rank must hear of it, or the others would wait for this one
        if shard.sharded:
            agree(failed, f"loading backbone {model.backbone!r} from {checkpoint}")
        partial, done, saver = None, [], None
        if out_dir is not None:
            out_dir = Path(out_dir)
            identity = {"backbone": model.backbone,
                        "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None,
                        "options": model.options, "scorers": cfg.scorers, "circular": cfg.circular,
                        "batch_size": cfg.batch_size, "max_new_tokens": cfg.max_new_tokens,
                        "items": sorted(it.item_id for it in what.items)}
            partial = partial_path(out_dir, identity, shard)
            if resume:
                done = _resume_rows(_partial_files(out_dir, identity), reporter)
            saver = _Saver(partial, save_every)
        with reporter.task("evaluating") as task:
            progress: Callable[[int, int], None] = lambda n, total: task.update(completed=n, total=total)  # noqa: E731
            result = evaluate(backbone, what.items, what.store_root, scorers=cfg.scorers, circular=cfg.circular,
                              batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                              n_boot=cfg.n_boot, done=done, on_batch=saver, progress=progress, shard=shard)
        result.metrics["config"].update({**what.context, "checkpoint": str(checkpoint) if checkpoint else None,
                                         "warnings": list(what.warnings)})
        if out_dir is not None:
            failed = None
            if shard.rank == 0:
                try:
                    write_results(result, out_dir)
                    for path in _partial_files(out_dir, identity):
                        path.unlink(missing_ok=True)
                except OSError as e:
                    if not shard.sharded:
                        raise
                    failed = _error(e)
            if shard.sharded:  # the others return only once the files are there (or all know why not)
                agree(failed, f"writing results to {out_dir}")
    except (LaunchError, ShardError) as e:
        raise EvalError(str(e)) from None
    return result
