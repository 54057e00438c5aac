"""`medmat train`: train one arm of an experiment manifest with a registered backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import console, emit_json, fail, reporter
from medmat.cli._options import config_flags
from medmat.models.base import ModelConfig, TrainConfig

TRAIN_HELP = (
    "Train one arm of a manifest (the arm's train items of its store) with a registered backbone.\n\n"
    "Settings: defaults < --config YAML < flags. Rerunning the same command resumes an interrupted run "
    "from its last checkpoint. A zero-shot arm (no training items) saves the untrained model.\n\n"
    "Several GPUs or machines: accelerate launch --config_file examples/accelerate/ddp.yaml "
    "-m medmat.cli.main train ... (docs/training.md)."
)


def register(app: typer.Typer) -> None:
    @app.command("train", help=TRAIN_HELP)
    @config_flags(ModelConfig, dest="model_flags", names={"path": ["--model"], "options": ["--option"]})
    @config_flags(TrainConfig, dest="train_flags")
    def train(
        manifest: Path = typer.Argument(..., help="Experiment manifest (YAML/JSON) from `medmat plan`."),
        arm: str = typer.Option(..., "--arm", help="Arm name in the manifest."),
        out: Path = typer.Option(..., "--out", help="Output folder (checkpoints, model, train.json)."),
        config: Optional[Path] = typer.Option(None, "--config", help="Train YAML (TrainConfig fields, extra, load_options)."),
        as_json: bool = typer.Option(False, "--json", help="Print train.json as JSON."),
        model_flags: dict[str, Any] | None = None,
        train_flags: dict[str, Any] | None = None,
    ) -> None:
        from medmat.config import ConfigError, resolve_config
        from medmat.models import BACKBONES
        from medmat.progress import fit_progress
        from medmat.registry import UnknownNameError
        from medmat.train import TrainError, load_train_spec, train_arm

        flags = dict(train_flags or {})
        mflags = dict(model_flags or {})
        if mflags.get("backbone") is None:
            raise fail("--backbone NAME is required (reference, qwen2-vl, llava ...)")
        try:
            BACKBONES.get(mflags["backbone"])
            spec = load_train_spec(config, overrides={k: v for k, v in flags.items() if k != "extra"},
                                   extra=flags.get("extra"), load_options=mflags.pop("options", None))
            model = resolve_config(ModelConfig, data={"options": spec.load_options}, flags=mflags)
        except (ConfigError, UnknownNameError) as e:
            raise fail(str(e)) from None
        cfg = spec.config
        try:
            with reporter(as_json) as rep, rep.task(f"training {arm}") as task:
                record = train_arm(manifest, arm, model, cfg, out,
                                   callbacks=[fit_progress(task, cfg.batch_size * cfg.grad_accum)])
        except (TrainError, ValueError, FileNotFoundError, KeyError) as e:
            raise fail(str(e).strip("'\"")) from None
        _report(record, as_json)


def _report(record: Any, as_json: bool) -> None:
    if as_json:
        emit_json({**record.model_dump(mode="json"), "already_complete": record.already_complete})
        return
    if record.already_complete:
        console.print(f"[green]already trained[/] {record.arm} ({record.steps} steps); nothing to do")
    elif record.zero_shot:
        console.print(f"[yellow]zero-shot arm[/] {record.arm}: no training items, the untrained model was saved")
    else:
        res = record.result or {}
        resumed = f", resumed from step {res['resumed_from']}" if res.get("resumed_from") else ""
        loss = record.final_loss
        console.print(f"[green]trained[/] {record.arm}: {record.steps} steps, "
                      f"loss {loss if loss is None else round(loss, 4)}, {record.seconds} s{resumed}")
    typer.echo(str(Path(record.out_dir) / "train.json"))
