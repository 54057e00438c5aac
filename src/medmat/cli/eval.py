"""`medmat eval`: evaluate a backbone on an arm's test items (manifest) or on a store subset.

Builds an ``EvalConfig`` (defaults < --config YAML < flags) and calls the eval stage's
one operation, ``medmat.evaluate.evaluate_arm``, as ``medmat run`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import emit_json, fail, out, reporter
from medmat.cli._options import config_flags
from medmat.evaluate.config import EvalConfig
from medmat.models.base import ModelConfig


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


@config_flags(ModelConfig, dest="model_flags", only=("backbone", "options"), names={"options": ["--option"]})
@config_flags(EvalConfig, dest="eval_flags", exclude=("in_distribution",), aliases={"n_boot": ["--bootstrap"]})
def eval_cmd(
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="Experiment manifest (YAML/JSON)."),
    arm: Optional[str] = typer.Option(None, "--arm", help="Arm whose test items to evaluate (with --manifest)."),
    store: Optional[Path] = typer.Option(None, "--store", help="VQA store (plain evaluation, with --subset)."),
    subset: Optional[str] = typer.Option(None, "--subset", help="Subset id in --store."),
    split: str = typer.Option("test", "--split", help="Split of --subset to evaluate."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Trained model or HF model folder; "
                                              "omitted = the backbone's fresh model, where it has one."),
    config: Optional[Path] = typer.Option(None, "--config", help="Eval YAML (EvalConfig fields)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Folder for predictions.jsonl + metrics.json."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    model_flags: dict[str, Any] | None = None,
    eval_flags: dict[str, Any] | None = None,
) -> None:
    """Evaluate a backbone with option scoring and/or generation + answer parsing."""
    from medmat.config import ConfigError, resolve_config
    from medmat.evaluate import EvalError, arm_items, evaluate_arm, subset_items
    from medmat.models import BACKBONES
    from medmat.plan import ManifestError
    from medmat.registry import UnknownNameError
    from medmat.store import StoreError

    if (manifest is None) == (store is None):
        raise fail("give either --manifest with --arm, or --store with --subset")
    if manifest is not None and not arm:
        raise fail("--manifest needs --arm NAME")
    if store is not None and not subset:
        raise fail("--store needs --subset ID")
    mflags = dict(model_flags or {})
    if mflags.get("backbone") is None:
        raise fail("--backbone NAME is required (reference, qwen2-vl, llava ...)")
    try:
        cfg = resolve_config(EvalConfig, file=config, flags=eval_flags)
        model = resolve_config(ModelConfig, flags=mflags)
        BACKBONES.get(model.backbone)
        what = arm_items(manifest, arm or "") if manifest is not None else subset_items(store, subset or "", split)
    except (ConfigError, UnknownNameError, EvalError, ManifestError, StoreError) as e:
        raise fail(str(e).strip("'\"")) from None
    try:
        with reporter(as_json) as rep:
            result = evaluate_arm(what, model, checkpoint, cfg, out_dir, reporter=rep)
    except EvalError as e:
        raise fail(str(e)) from None
    except (ValueError, FileNotFoundError, FloatingPointError, OSError) as e:
        raise fail(f"evaluation failed: {e}") from None
    if as_json:
        emit_json(result.metrics)
    else:
        _print_summary(result.metrics, out_dir)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
