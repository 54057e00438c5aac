"""``evaluate``: ask any Backbone every test question with each scorer, then draw metrics.

The evaluator only speaks the ``Backbone`` interface (score_options / generate), so the
CPU reference model and every Hugging Face family are evaluated by the same code.
Questions are sent in batches of ``batch_size`` so a progress callback can follow along;
with ``circular=True`` each question is asked once per rotation of its options.

Resuming: rows of an interrupted run (``done``) are reused instead of asked again, and
``on_batch`` receives every row so far after each batch so a caller can save them. The
rows come out in one canonical order, so a resumed run writes the same bytes as an
uninterrupted one.

Sharding (``shard``, see ``evaluate/shards.py``): under a multi-process launch each rank
asks its share of the batches, the rows are gathered on every rank and the metrics drawn
from all of them, so every rank returns the same result as a single process would.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import medmat
from medmat.evaluate.metrics import compute_metrics
from medmat.evaluate.predictions import Prediction
from medmat.evaluate.rotation import rotations
from medmat.evaluate.scorers import SCORERS, ScoreSettings, scorer_kinds
from medmat.evaluate.shards import Shard, merge_shards
from medmat.evaluate.stats import DEFAULT_BOOT
from medmat.models.base import Backbone
from medmat.records import VQAItem

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after every batch (questions x rotations x scorers)."""
RowKey = tuple[str, str, int]  # (scorer, item_id, rotation)


@dataclass
class EvalResult:
    """Prediction rows and the metrics drawn from them (``timing`` is not written to disk)."""

    predictions: list[Prediction]
    metrics: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)


def _check_items(items: Sequence[VQAItem]) -> None:
    if not items:
        raise ValueError("no items to evaluate")
    dup = [i for i, c in Counter(it.item_id for it in items).items() if c > 1]
    if dup:
        raise ValueError(f"item ids must be unique; repeated: {sorted(dup)[:5]}")
    for it in items:
        if it.kind == "grounding":
            if it.answer_box is None:
                raise ValueError(f"item {it.item_id}: a grounding item needs answer_box")
        elif not 0 <= it.answer_index < it.n_options:
            raise ValueError(f"item {it.item_id}: answer_index {it.answer_index} outside its {it.n_options} options")


def _with_box_scorer(scorers: Sequence[str], items: Sequence[VQAItem]) -> list[str]:
    """The scorers asked for, plus ``box`` when some item is of a kind none of them asks
    (grounding): every item is scored, and classification evaluations are unchanged."""
    names = list(dict.fromkeys(scorers))
    kinds = {it.kind for it in items}
    covered = set().union(*(scorer_kinds(n) for n in names)) if names else set()
    if "grounding" in kinds - covered:
        names.append("box")
    unscored = kinds - covered - ({"grounding"} if "box" in names else set())
    if unscored:
        raise ValueError(f"no scorer asks items of kind {sorted(unscored)}")
    return names


def evaluate(
    backbone: Backbone,
    items: Sequence[VQAItem],
    store_root: str | Path,
    scorers: Sequence[str] = ("option", "generate"),
    circular: bool = False,
    batch_size: int = 8,
    max_new_tokens: int = 16,
    seed: int = 0,
    progress: ProgressFn | None = None,
    n_boot: int = DEFAULT_BOOT,
    done: Sequence[Prediction] = (),
    on_batch: Callable[[list[Prediction]], None] | None = None,
    shard: Shard | None = None,
) -> EvalResult:
    """Evaluate ``backbone`` on ``items`` with each scorer; ``seed`` seeds the bootstrap.

    ``done``: rows of an earlier, interrupted run of the same evaluation, reused as they
    are (a row whose answer letter or option count no longer matches is an error).
    ``shard``: this process's part of a multi-process launch (every rank must call this
    with the same arguments); ``progress`` and ``on_batch`` then follow this rank's share.
    A rank whose share fails makes every rank raise :class:`ShardError`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not scorers:
        raise ValueError("no scorers given")
    _check_items(items)
    fns = {name: SCORERS.get(name) for name in _with_box_scorer(scorers, items)}
    store_root = Path(store_root)
    work = [(item, k, rotated) for item in items for k, rotated in rotations(item, circular)]
    settings = ScoreSettings(batch_size=batch_size, max_new_tokens=max_new_tokens)
    reused = _reusable(done, work, fns)
    shard = shard or Shard()
    plan = []  # (scorer, this rank's batches of the questions not reused)
    asks = {name: scorer_kinds(name) for name in fns}
    for name in fns:
        todo = [w for w in work if w[0].kind in asks[name] and (name, w[0].item_id, w[1]) not in reused]
        plan.append((name, shard.batches(todo, batch_size)))
    total = len(reused) + sum(len(c) for _, chunks in plan for c in chunks)
    n_done = len(reused)
    rows: dict[RowKey, Prediction] = dict(reused)
    mine: list[Prediction] = []
    timing: dict[str, float] = {}
    if progress is not None and n_done:
        progress(n_done, total)
    error = None
    try:
        for name, chunks in plan:
            fn, t0 = fns[name], time.perf_counter()
            for chunk in chunks:
                answers = fn(backbone, [rotated for _, _, rotated in chunk], store_root, settings)
                for (item, k, rotated), ans in zip(chunk, answers):
                    row = Prediction(
                        item_id=item.item_id, subset=item.subset, triplet=item.triplet, scorer=name, rotation=k,
                        pred=ans.pred, parsed_how=ans.how,
                        correct=ans.pred == rotated.answer_choice if ans.correct is None else ans.correct,
                        n_options=item.n_options, answer=rotated.answer_choice, raw=ans.raw, scores=ans.scores,
                        iou=ans.iou,
                    )
                    rows[(name, item.item_id, k)] = row
                    mine.append(row)
                n_done += len(chunk)
                if progress is not None:
                    progress(n_done, total)
                if on_batch is not None:
                    on_batch(list(rows.values()))
            timing[name] = time.perf_counter() - t0
    except Exception as e:
        if not shard.sharded:
            raise
        error = f"{type(e).__name__}: {e}"  # told to every rank below, so none waits for this one
    if shard.sharded:
        for p in merge_shards(shard.gather((mine, error), "evaluation"), "evaluation"):
            rows[(p.scorer, p.item_id, p.rotation)] = p
    ordered = [rows[(name, item.item_id, k)] for name in fns for item, k, _ in work if item.kind in asks[name]]
    config = {
        "backbone": getattr(backbone, "name", type(backbone).__name__), "scorers": list(fns),
        "circular": circular, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
        "n_items": len(items), "medmat_version": medmat.__version__,
    }
    metrics = compute_metrics(ordered, circular=circular, n_boot=n_boot, seed=seed, config=config)
    return EvalResult(ordered, metrics, timing)


def _reusable(done: Sequence[Prediction], work: list[tuple[VQAItem, int, VQAItem]],
              fns: dict[str, Any]) -> dict[RowKey, Prediction]:
    """The rows of ``done`` that belong to this evaluation, checked against the items."""
    if not done:
        return {}
    expect = {(w[0].item_id, w[1]): w for w in work}
    out: dict[RowKey, Prediction] = {}
    for p in done:
        w = expect.get((p.item_id, p.rotation))
        if w is None or p.scorer not in fns:
            continue  # not part of this evaluation (e.g. a scorer no longer asked for)
        item, _, rotated = w
        if p.answer != rotated.answer_choice or p.n_options != item.n_options:
            raise ValueError(f"earlier row for item {p.item_id} rotation {p.rotation} does not match the item "
                             f"(answer {p.answer} vs {rotated.answer_choice}): the partial results belong to "
                             "another evaluation")
        out[(p.scorer, p.item_id, p.rotation)] = p
    return out
