"""``medmat sources``: look at one raw dataset through its reader, and preview conversions.

``scan`` answers "what will ``medmat build`` see in this folder?" (records, splits, labels
and every skip reason) without writing anything; ``convert`` renders one raw file (PNG,
JPEG, DICOM, NIfTI ...) the way materialisation will, to check a window or slice choice.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from medmat.cli._common import emit_json, fail, out, reporter

app = typer.Typer(name="sources", help="Inspect raw datasets through medmat's source readers.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sources")


def _layout_from_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise fail(f"cannot read layout file {path}: {escape(str(e))}")
    if not isinstance(data, dict) or "type" not in data:
        raise fail(f"{path}: a layout is a mapping with a 'type' (class_folders, label_table, dicom, nifti, medmat_json)")
    return data


def _from_catalog(dataset: str, catalogs: list[Path]):
    from medmat.catalog import CatalogError, load_catalog

    try:
        cat = load_catalog(catalogs)
        entry = cat.dataset(dataset)
    except CatalogError as e:
        raise fail(f"the catalog is invalid ({len(e.errors)} error(s)); run 'medmat catalog validate'")
    except KeyError as e:
        raise fail(escape(str(e)))
    if entry.layout is None:
        raise fail(f"dataset {dataset} has no layout in the catalog; pass --layout FILE")
    return entry.layout, entry.labels, dict(entry.label_aliases or {})


@app.command("scan")
def scan(
    dataset: str = typer.Argument(..., help="Dataset id (catalog id, or any name with --layout)."),
    data_root: Path = typer.Option(..., "--data-root", help="Folder the layout's paths are relative to."),
    layout_file: Optional[Path] = typer.Option(None, "--layout", help="Layout YAML/JSON instead of the catalog's."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog file(s) laid over the built-in one."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated known labels (with --layout)."),
    show: int = typer.Option(10, "--show", help="How many example skips to list."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Read DATASET and summarise records, splits, labels and skip reasons (writes nothing)."""
    from medmat.records import Skip
    from medmat.sources import SourceError, read_dataset

    if layout_file is not None:
        layout, known, aliases = _layout_from_file(layout_file), None, {}
        if labels:
            known = [x.strip() for x in labels.split(",") if x.strip()]
    else:
        layout, known, aliases = _from_catalog(dataset, catalog or [])
    records, skips = [], []
    try:
        with reporter(as_json) as rep, rep.task(f"reading {dataset}") as task:
            for item in read_dataset(dataset, layout, data_root, labels=known, label_aliases=aliases):
                (skips if isinstance(item, Skip) else records).append(item)
                task.advance()
    except (SourceError, KeyError) as e:
        raise fail(escape(str(e).strip("'\"")))
    summary = {
        "dataset": dataset, "records": len(records), "skipped": len(skips),
        "splits": dict(sorted(Counter(r.split or "none" for r in records).items())),
        "labels": dict(sorted(Counter(lab for r in records for lab in r.labels).items())),
        "skip_reasons": dict(sorted(Counter(s.reason for s in skips).items())),
        "skip_examples": [s.to_dict() for s in skips[:show]],
    }
    if as_json:
        emit_json(summary)
        return
    out.print(f"[bold]{escape(dataset)}[/]: {len(records)} records, {len(skips)} skipped")
    for title, counts in (("split", summary["splits"]), ("label", summary["labels"]), ("skip reason", summary["skip_reasons"])):
        if counts:
            table = Table(title=None, show_header=True)
            table.add_column(title)
            table.add_column("n", justify="right")
            for k, v in counts.items():
                table.add_row(escape(str(k)), str(v))
            out.print(table)
    for s in summary["skip_examples"]:
        out.print(f"  skip [yellow]{s['reason']}[/] {escape(s['path'])}: {escape(s['detail'])}", highlight=False)


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., exists=False, help="A raw image: PNG/JPEG/TIFF/BMP, DICOM or NIfTI."),
    output: Path = typer.Argument(..., help="Where to write the 8-bit PNG preview."),
    frame: Optional[int] = typer.Option(None, "--frame", help="DICOM frame (default: middle)."),
    mip: bool = typer.Option(False, "--mip", help="DICOM: maximum-intensity projection over frames."),
    window: Optional[str] = typer.Option(None, "--window", help="CENTER,WIDTH window (DICOM/NIfTI)."),
    slice_index: Optional[int] = typer.Option(None, "--slice", help="NIfTI slice (default: middle)."),
    axis: str = typer.Option("axial", "--axis", help="NIfTI axis: axial, coronal, sagittal."),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Resize so the longer side is at most this."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Render one raw file to an 8-bit PNG exactly as materialisation would."""
    from PIL import Image

    from medmat.imaging.convert import ImageError, target_size
    from medmat.imaging.limits import FileLimits
    from medmat.imaging.loaders import LOADERS, sniff_format

    if not source.is_file():
        raise fail(f"{source} is not a file")
    params: dict[str, Any] = {}
    if window:
        try:
            c, w = (float(x) for x in window.split(","))
        except ValueError:
            raise fail(f"--window must be CENTER,WIDTH (e.g. 40,400), got {window!r}")
        params["window"] = [c, w]
    kind = sniff_format(source.name)
    with source.open("rb") as fh:
        head = fh.read(132)
    limits = FileLimits()
    try:
        if kind == "dicom" or (kind == "raster" and head[128:132] == b"DICM"):
            kind = "dicom"
            params.update({"frame": frame, "frame_policy": "mip" if mip else "middle"})
        elif kind == "nifti":
            from medmat.imaging.nifti import axis_index, canonical_shape, check_volume_size, load_header

            try:
                ax = axis_index(axis)
            except ValueError as e:
                raise fail(escape(str(e)))
            img = load_header(str(source))
            check_volume_size(img, limits)
            shape = canonical_shape(img)
            params.update({"axis": ax, "slice": shape[ax] // 2 if slice_index is None else slice_index})
        loaded = LOADERS.get(kind)(str(source), params, max_side, "png", limits)
    except ImageError as e:
        raise fail(f"{escape(str(source))}: {e.reason}: {escape(e.detail)}")
    except MemoryError:
        raise fail(f"{escape(str(source))}: memory-limit: out of memory while decoding")
    img = loaded.image
    size = target_size(img.size, max_side)
    if size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    from medmat.io import atomic_open

    with atomic_open(output, "wb", encoding=None) as fh:
        img.save(fh, "PNG")
    info = {"source": str(source), "output": str(output), "format": loaded.source_format, "mode": img.mode,
            "width": img.width, "height": img.height, "params": {k: v for k, v in params.items() if v is not None}}
    if as_json:
        emit_json(info)
    else:
        out.print(f"{escape(str(source))} ({loaded.source_format}) -> {escape(str(output))} {img.mode} "
                  f"{img.width}x{img.height} {escape(json.dumps(info['params']))}", highlight=False)
