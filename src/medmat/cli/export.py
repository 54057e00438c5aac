"""`medmat export`: a VQA store in a tool's format (TRL, LLaVA, ShareGPT/LLaMA-Factory, ms-swift,
Parquet + dataset card, VLMEvalKit, lmms-eval tasks, Med-MAT json).

Builds an ``ExportConfig`` (defaults < --config YAML < flags) and calls the export's one
operation, ``medmat.export.run_export``; prints the files written and the lines to run next
(docs/exports.md has them for every tool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import emit_json, fail, out
from medmat.cli._options import config_flags
from medmat.export.config import ExportConfig

FORMATS = "trl, llava, sharegpt, swift, parquet, vlmevalkit, lmms-eval, medmat"


@config_flags(ExportConfig, dest="export_flags", names={"subsets": ["--subset"]}, aliases={"subsets": ["--subsets"]})
def export_cmd(
    store: Path = typer.Argument(..., help="A VQA store built by `medmat build`."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"{FORMATS} (docs/exports.md)."),
    out_dir: Path = typer.Option(..., "--out", help="Export folder (vlmevalkit: may be $LMUData itself)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Export YAML (ExportConfig fields)."),
    as_json: bool = typer.Option(False, "--json", help="Print the files and next steps as JSON."),
    export_flags: dict[str, Any] | None = None,
) -> None:
    """Export a store's items in a tool's training/evaluation format."""
    from medmat.config import ConfigError, resolve_config
    from medmat.export import EXPORTERS, run_export
    from medmat.registry import UnknownNameError
    from medmat.store import StoreError, VQAStore

    try:
        cfg = resolve_config(ExportConfig, file=config, flags=export_flags)
        EXPORTERS.get(fmt)
        ctx = run_export(VQAStore(store), fmt, out_dir, cfg)
    except (ConfigError, UnknownNameError, StoreError, ValueError, OSError) as e:
        raise fail(str(e)) from None
    result = {"format": fmt, "out": str(out_dir), "files": [str(f) for f in ctx.files], "next": ctx.notes,
              "config": cfg.model_dump(mode="json")}
    if as_json:
        emit_json(result)
        return
    out.print(f"exported {fmt} to {out_dir}:")
    for f in ctx.files:
        out.print(f"  {f}", highlight=False, markup=False)
    if ctx.notes:
        out.print("next:")
        for line in ctx.notes:
            out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
