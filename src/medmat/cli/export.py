"""`medmat export`: a VQA store to TRL / LLaVA / ShareGPT / ms-swift / Parquet / VLMEvalKit / Med-MAT json."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medmat.cli._common import emit_json, fail, out


def export_cmd(
    store: Path = typer.Argument(..., help="A VQA store built by `medmat build`."),
    fmt: str = typer.Option(..., "--format", "-f", help="trl, llava, sharegpt, swift, parquet, vlmevalkit, medmat."),
    out_dir: Path = typer.Option(..., "--out", help="Export folder."),
    split: str = typer.Option("all", "--split", help="train, test or all (one file per split)."),
    subset: Optional[list[str]] = typer.Option(None, "--subset", help="Only these subsets (repeatable)."),
    copy_images: bool = typer.Option(False, "--copy-images", help="Copy images into OUT; paths relative to OUT."),
    trl_style: str = typer.Option("messages", "--trl-style", help="trl only: messages or prompt-completion."),
    capped: bool = typer.Option(False, "--capped", help="Apply the store's per-subset train cap."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export a store's items in a tool's training/evaluation format."""
    from medmat.registry import UnknownNameError
    from medmat.export import EXPORTERS, ExportOptions, export_store
    from medmat.store import StoreError, VQAStore

    if split not in ("train", "test", "all"):
        raise fail(f"--split is train, test or all, got {split!r}")
    try:
        EXPORTERS.get(fmt)
        st = VQAStore(store)
        opts = ExportOptions(split=split, subsets=tuple(subset) if subset else None,  # type: ignore[arg-type]
                             copy_images=copy_images, trl_style=trl_style, capped=capped)
        files = export_store(st, fmt, out_dir, opts)
    except (UnknownNameError, StoreError, ValueError, OSError) as e:
        raise fail(str(e)) from None
    result = {"format": fmt, "out": str(out_dir), "files": [str(f) for f in files],
              "copy_images": copy_images, "split": split, "subsets": list(subset or [])}
    if as_json:
        emit_json(result)
    else:
        out.print(f"exported {fmt} to {out_dir}:")
        for f in files:
            out.print(f"  {f}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
