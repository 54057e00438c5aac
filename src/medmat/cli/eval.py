"""`medmat eval`: evaluate a backbone on an arm's test items (manifest) or on a store subset."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import console, emit_json, fail, out, progress


def _discover_backbones() -> Any:
    from medmat.models import discover_backbones

    return discover_backbones()


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``--option key=value`` pairs for ``Backbone.load``; values are read as YAML scalars."""
    from medmat.train.config import parse_assignments

    try:
        return parse_assignments(pairs, "--option")
    except ValueError as e:
        raise fail(str(e)) from None


def _items_from_manifest(manifest: Path, arm_name: str) -> tuple[list, Path, dict[str, Any]]:
    from medmat.plan import ManifestError, load_manifest
    from medmat.store import StoreError, VQAStore

    try:
        m = load_manifest(manifest)
        arm = m.arm(arm_name)
    except (ManifestError, KeyError) as e:
        raise fail(str(e)) from None
    store_root = m.store_path(manifest)
    try:
        store = VQAStore(store_root)
    except StoreError as e:
        raise fail(str(e)) from None
    by_id = store.by_id()
    missing = [i for i in arm.test if i not in by_id]
    if missing:
        raise fail(f"arm {arm_name!r} lists {len(missing)} test items not in store {store_root} "
                   f"(e.g. {missing[:3]}); was the store rebuilt after planning?")
    if not arm.test:
        raise fail(f"arm {arm_name!r} of {manifest} has no test items")
    if store.fingerprint() != m.store_fingerprint:
        console.print(f"[yellow]warning:[/] store {store_root} changed since the manifest was planned "
                      "(fingerprint differs); evaluating the listed test items anyway")
    context = {"manifest": str(manifest), "arm": arm_name, "target": m.target, "target_subset": m.target_subset}
    return [by_id[i] for i in arm.test], store_root, context


def _items_from_store(store_root: Path, subset: str, split: str) -> tuple[list, Path, dict[str, Any]]:
    from medmat.store import StoreError, VQAStore

    try:
        store = VQAStore(store_root)
    except StoreError as e:
        raise fail(str(e)) from None
    items = store.items(subset, split)
    if not items:
        known = sorted(store.subsets())
        raise fail(f"store {store_root} has no {split!r} items in subset {subset!r} (subsets: {', '.join(known)})")
    return items, store_root, {"store": str(store_root), "subset": subset, "split": split}


def _partial_path(out_dir: Path, identity: dict[str, Any]) -> Path:
    """Where rows of an unfinished evaluation are kept; the name encodes what is evaluated,
    so a partial file is only ever reused by the same evaluation."""
    from medmat.io import dumps, stable_hash

    return out_dir / f".partial-{stable_hash(dumps(identity))}.jsonl"


def _resume_rows(path: Path) -> list:
    from medmat.evaluate import Prediction
    from medmat.io import read_jsonl

    if not path.is_file():
        return []
    try:
        rows = [Prediction.from_dict(d) for d in read_jsonl(path)]
    except ValueError as e:
        console.print(f"[yellow]warning:[/] ignoring unreadable partial results {path}: {e}")
        return []
    console.print(f"resuming: {len(rows)} answers reused from {path}")
    return rows


class _Saver:
    """Saves the rows so far (atomically) at most every ``every`` seconds."""

    def __init__(self, path: Path, every: float = 30.0):
        import time

        self.path, self.every, self._clock, self._last = path, every, time.monotonic, time.monotonic()

    def __call__(self, rows: list) -> None:
        from medmat.io import write_jsonl

        if self._clock() - self._last >= self.every:
            write_jsonl(self.path, (r.to_dict() for r in rows))
            self._last = self._clock()


def _print_summary(metrics: dict[str, Any], out_dir: Optional[Path]) -> None:
    from rich.table import Table

    t = Table(title="evaluation")
    for col in ("group", "scorer", "n", "accuracy [95% CI]", "invalid", "chance", "circular"):
        t.add_column(col)
    groups = [("overall", metrics["overall"])] + [(f"subset {k}", v) for k, v in metrics["subsets"].items()]
    for name, blocks in groups:
        for scorer, b in blocks.items():
            circ = f"{b['circular_accuracy']:.3f}" if "circular_accuracy" in b else "-"
            t.add_row(name, scorer, str(b["n"]), f"{b['accuracy']:.3f} [{b['ci_low']:.3f}, {b['ci_high']:.3f}]",
                      f"{b['invalid_rate']:.3f}", f"{b['chance']:.3f}", circ)
    out.print(t)
    if out_dir is not None:
        out.print(f"predictions and metrics written to {out_dir}")
    else:
        out.print("(no --out: results not written)")


def eval_cmd(
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Experiment manifest (YAML/JSON)."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm whose test items to evaluate (with --manifest)."),
    store: Optional[Path] = typer.Option(None, "--store", help="VQA store (plain evaluation, with --subset)."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Subset id in --store."),
    split: str = typer.Option("test", "--split", help="Split of --subset to evaluate."),
    backbone: str = typer.Option(..., "--backbone", help="Backbone name (e.g. reference, qwen2-vl)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Trained model or HF model folder; "
                                              "omitted = the backbone's fresh model, where it has one."),
    option: list[str] = typer.Option([], "--option", help="key=value passed to the backbone's load (repeatable)."),
    scorers: str = typer.Option("option,generate", "--scorers", help="Comma-separated scorers."),
    circular: bool = typer.Option(False, "--circular", help="Also ask every rotation of the options."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    max_new_tokens: int = typer.Option(16, "--max-new-tokens", min=1),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    n_boot: int = typer.Option(1000, "--n-boot", min=1, help="Bootstrap resamples."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for predictions.jsonl + metrics.json."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Evaluate a backbone with option scoring and/or generation + answer parsing."""
    from medmat.registry import UnknownNameError
    from medmat.evaluate import SCORERS, evaluate, write_results

    if (manifest is None) == (store is None):
        raise fail("give either --manifest with --arm, or --store with --subset")
    if manifest is not None and not arm:
        raise fail("--manifest needs --arm NAME")
    if store is not None and not subset:
        raise fail("--store needs --subset ID")
    names = [s.strip() for s in scorers.split(",") if s.strip()]
    try:
        for s in names:
            SCORERS.get(s)
        cls = _discover_backbones().get(backbone)
    except UnknownNameError as e:
        raise fail(str(e)) from None
    if not names:
        raise fail("--scorers is empty")
    if manifest is not None:
        items, store_root, context = _items_from_manifest(manifest, arm or "")
    else:
        items, store_root, context = _items_from_store(store, subset or "", split)  # type: ignore[arg-type]
    try:
        model = cls.load(checkpoint, **_parse_options(option))
    except (ValueError, FileNotFoundError, OSError) as e:
        raise fail(f"cannot load backbone {backbone!r} from {checkpoint}: {e}") from None
    partial, done, saver = None, [], None
    if out_dir is not None:
        identity = {"backbone": backbone, "checkpoint": str(checkpoint.resolve()) if checkpoint else None,
                    "options": option, "scorers": names, "circular": circular, "batch_size": batch_size,
                    "max_new_tokens": max_new_tokens, "items": sorted(it.item_id for it in items)}
        partial = _partial_path(out_dir, identity)
        done, saver = _resume_rows(partial), _Saver(partial)
    with progress(enabled=not as_json) as bar:
        task = bar.add_task("evaluating", total=None)
        try:
            result = evaluate(
                model, items, store_root, scorers=names, circular=circular, batch_size=batch_size,
                max_new_tokens=max_new_tokens, seed=seed, n_boot=n_boot, done=done, on_batch=saver,
                progress=lambda n, total: bar.update(task, completed=n, total=total),
            )
        except (ValueError, FileNotFoundError, FloatingPointError, OSError) as e:
            raise fail(f"evaluation failed: {e}") from None
    result.metrics["config"].update({**context, "checkpoint": str(checkpoint) if checkpoint else None})
    if out_dir is not None:
        write_results(result, out_dir)
        if partial is not None:
            partial.unlink(missing_ok=True)
    if as_json:
        emit_json(result.metrics)
    else:
        _print_summary(result.metrics, out_dir)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
