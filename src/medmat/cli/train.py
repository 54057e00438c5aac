"""`medmat train`: train one arm of an experiment manifest with a registered backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import console, emit_json, fail, progress

TRAIN_HELP = (
    "Train one arm of a manifest (the arm's train items of its store) with a registered backbone.\n\n"
    "Settings: defaults < --config YAML < flags. Rerunning the same command resumes an interrupted run "
    "from its last checkpoint. A zero-shot arm (no training items) saves the untrained model.\n\n"
    "Several GPUs or machines: accelerate launch --config_file examples/accelerate/ddp.yaml "
    "-m medmat.cli.main train ... (docs/training.md)."
)


def register(app: typer.Typer) -> None:
    @app.command("train", help=TRAIN_HELP)
    def train(
        manifest: Path = typer.Argument(..., help="Experiment manifest (YAML/JSON) from `medmat plan`."),
        arm: str = typer.Option(..., "--arm", help="Arm name in the manifest."),
        backbone: str = typer.Option(..., "--backbone", help="Registered backbone (qwen2-vl, llava, reference ...)."),
        out: Path = typer.Option(..., "--out", help="Output folder (checkpoints, model, train.json)."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model folder (HF checkpoint); none = fresh init where supported."),
        config: Optional[Path] = typer.Option(None, "--config", help="Train YAML (TrainConfig fields, extra, load_options)."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1),
        epochs: Optional[float] = typer.Option(None, "--epochs", min=0.0),
        lr: Optional[float] = typer.Option(None, "--lr", min=0.0),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
        grad_accum: Optional[int] = typer.Option(None, "--grad-accum", min=1),
        method: Optional[str] = typer.Option(None, "--method", help="lora | full (HF backbones)."),
        seed: Optional[int] = typer.Option(None, "--seed"),
        save_every: Optional[int] = typer.Option(None, "--save-every", min=1),
        extra: Optional[list[str]] = typer.Option(None, "--extra", help="Backbone training setting KEY=VALUE (repeatable)."),
        option: Optional[list[str]] = typer.Option(None, "--option", help="Backbone load option KEY=VALUE (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print train.json as JSON."),
    ) -> None:
        from medmat.models.base import BACKBONES
        from medmat.train import TrainConfigError, TrainError, ensure_backbones, load_train_spec, parse_assignments, train_arm

        if method is not None and method not in ("lora", "full"):
            raise fail(f"--method must be 'lora' or 'full', not {method!r}")
        try:
            ensure_backbones()
            if backbone not in BACKBONES:
                BACKBONES.get(backbone)  # raises the did-you-mean error
            spec = load_train_spec(
                config,
                overrides=dict(max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
                               method=method, seed=seed, save_every=save_every),
                extra=parse_assignments(extra, "--extra"), load_options=parse_assignments(option, "--option"),
            )
        except (TrainConfigError, KeyError) as e:
            raise fail(str(e)) from None
        with progress(enabled=not as_json) as bar:
            task = bar.add_task(f"training {arm}", total=None)

            def on_step(step: int, total: int, loss: float | None) -> None:
                desc = f"training {arm}" + (f" loss {loss:.4f}" if loss is not None else "")
                bar.update(task, completed=step, total=total or None, description=desc)

            try:
                record = train_arm(manifest, arm, backbone, out, spec, model_path=model, on_step=on_step)
            except (TrainError, ValueError, FileNotFoundError, KeyError) as e:
                raise fail(str(e)) from None
        _report(record, as_json)


def _report(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(record)
        return
    facts = record.get("facts") or {}
    if record.get("already_complete"):
        console.print(f"[green]already trained[/] {record['arm']} ({record.get('steps')} steps); nothing to do")
    elif facts.get("zero_shot"):
        console.print(f"[yellow]zero-shot arm[/] {record['arm']}: {facts.get('note')}")
    else:
        resumed = f", resumed from {facts['resumed_from']}" if facts.get("resumed_from") else ""
        loss = record.get("loss")
        console.print(f"[green]trained[/] {record['arm']}: {record.get('steps')} steps, "
                      f"loss {loss if loss is None else round(loss, 4)}, {record.get('seconds')} s{resumed}")
    typer.echo(str(Path(record["out_dir"]) / "train.json"))
