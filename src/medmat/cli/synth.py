"""`medmat synth OUT` (write the synthetic MAT benchmark) and `medmat synth targets`.

``synth`` is a group whose default command is generation, so both ``medmat synth OUT`` and
``medmat synth targets`` work; a folder literally named ``targets`` is ``./targets``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from medmat.cli._common import emit_json, fail, out, reporter


class _DefaultGroup(TyperGroup):
    """Routes ``synth OUT ...`` to the ``generate`` command unless a sub-command is named."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["generate", *args]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    group = typer.Typer(cls=_DefaultGroup, no_args_is_help=True,
                        help="Synthetic MAT benchmark: `medmat synth OUT` writes it; `medmat synth targets` lists CG targets.")
    group.command("generate", help="Write the synthetic benchmark (raw datasets + catalog.yaml) into OUT.")(generate_cmd)
    group.command("targets", help="List CG targets of the design with their related/unrelated partner counts.")(targets_cmd)
    app.add_typer(group, name="synth")


def generate_cmd(
    out_dir: Path = typer.Argument(..., help="Folder to write (created; re-running resumes)."),
    seed: int = typer.Option(0, "--seed"),
    size: int = typer.Option(64, "--size", help="Image side in pixels (64..224)."),
    per_label: int = typer.Option(40, "--per-label", help="Images per label per triplet."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of each label's images in the test split."),
    workers: int = typer.Option(1, "--workers", min=1),
    modality: Optional[list[str]] = typer.Option(None, "--modality", help="Keep only these modalities (repeatable)."),
    area: Optional[list[str]] = typer.Option(None, "--area", help="Keep only these areas (repeatable)."),
    task: Optional[list[str]] = typer.Option(None, "--task", help="Keep only these tasks, names or keys (repeatable)."),
    modality_effect: float = typer.Option(0.0, "--modality-effect",
                                          help="Entanglement dial 0-1: how much a finding's look depends on the modality."),
    area_effect: float = typer.Option(0.0, "--area-effect",
                                      help="Entanglement dial 0-1: how much a finding's look depends on the area."),
    contact: Optional[Path] = typer.Option(None, "--contact-sheet", help="Also write a modality x area sheet here."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write the synthetic benchmark."""
    from pydantic import ValidationError

    from medmat.synth import SynthConfig, contact_sheet, generate
    from medmat.synth.sample import jobs

    try:
        config = SynthConfig(seed=seed, size=size, per_label=per_label, test_fraction=test_fraction,
                             modalities=modality or None, areas=area or None, tasks=task or None,
                             modality_effect=modality_effect, area_effect=area_effect)
        total = len(jobs(config))
    except ValidationError as e:
        raise fail("; ".join(f"--{'-'.join(map(str, err['loc'])).replace('_', '-')}: {err['msg']}" for err in e.errors()))
    except (ValueError, KeyError) as e:
        raise fail(str(e).strip("'\""))
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"{out_dir} exists and is not a folder")
    try:
        with reporter(as_json) as rep, rep.task("rendering", total=total) as bar:
            summary = generate(out_dir, config, workers=workers, progress=bar.advance)
        sheet = contact_sheet(contact, size=size, seed=seed, modality_effect=modality_effect,
                              area_effect=area_effect) if contact else None
    except OSError as e:
        raise fail(f"cannot write: {e}")
    if as_json:
        emit_json({**summary.model_dump(), "contact_sheet": str(sheet) if sheet else None})
        return
    from rich.table import Table

    for key in ("modality", "area", "task"):
        t = Table(title=f"images per {key}")
        t.add_column(key)
        t.add_column("images", justify="right")
        for name, n in summary.counts[key].items():
            t.add_row(name, str(n))
        out.print(t)
    out.print(f"{summary.n_images} images ({summary.n_written} written, {summary.n_skipped} already there), "
              f"{len(summary.counts['triplet'])} triplets, splits {summary.counts['split']}")
    out.print(f"catalog: {summary.catalog}  (data root: {Path(summary.out_dir) / 'raw'})")
    if summary.n_removed:
        out.print(f"removed {summary.n_removed} images of an earlier run that this configuration does not make")
    if sheet:
        out.print(f"contact sheet: {sheet}")
    out.print(f"next: medmat build <dataset ids> --catalog {summary.catalog} --data-root "
              f"{Path(summary.out_dir) / 'raw'} --out STORE   (dataset ids = folder names under raw/)")


def targets_cmd(
    min_directions: int = typer.Option(1, "--min-directions", min=0, max=4,
                                       help="Keep targets with related pairs in at least this many direction types."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List CG targets of the shipped design."""
    from medmat.synth import cg_targets
    from medmat.synth.design import DIRECTIONS

    targets = cg_targets(min_directions=min_directions)
    if as_json:
        emit_json([t.model_dump() for t in targets])
        return
    from rich.table import Table

    t = Table(title=f"{len(targets)} CG targets (pairs per direction type)")
    for col in ("target", "related", "unrelated", *DIRECTIONS):
        t.add_column(col, justify="left" if col == "target" else "right")
    for c in targets:
        t.add_row(c.triplet, str(c.related), str(c.unrelated), *(str(c.directions[d]) for d in DIRECTIONS))
    out.print(t)
