"""``medmat catalog``: browse, filter and validate the Med-MAT catalog (plus user catalogs).

Every command takes ``--catalog FILE`` (repeatable) to lay user catalog files over the
built-in one, so a user sees exactly what ``medmat build`` will see.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from medmat.cli._common import console, emit_json, fail, out

app = typer.Typer(name="catalog", help="Browse and validate the Med-MAT dataset catalog.", no_args_is_help=True)

_CATALOG_HELP = "A user catalog YAML laid over the built-in catalog (repeatable; later files win with override: true)."


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="catalog")


def _load(files: Optional[list[Path]]):
    from medmat.catalog import CatalogError, load_catalog

    try:
        return load_catalog(files or [])
    except CatalogError as e:
        for issue in e.errors:
            console.print(f"  {issue}", markup=False, highlight=False, soft_wrap=True)
        raise fail(f"the catalog is invalid ({len(e.errors)} error(s)); run 'medmat catalog validate' for details")


def _norm(cat, kind: str, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    from medmat.mat import UnknownTermError

    try:
        return cat.vocab.normalize(kind, value)
    except UnknownTermError as e:
        raise fail(escape(str(e)))


def _match(entry, cat, modality, area, task, status) -> bool:
    return (
        (modality is None or entry.modality == modality)
        and (area is None or entry.area == area)
        and (task is None or entry.task == task)
        and (status is None or entry.status == status)
    )


def _status(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    v = value.lower()
    if v not in ("released", "todo"):
        raise fail(f"--status is 'released' or 'todo', got {escape(value)!r}")
    return v


def _dataset_row(d) -> dict[str, Any]:
    return {
        "id": d.id, "name": d.name, "modality": d.modality, "area": d.area, "task": d.task,
        "triplet": str(d.triplet), "subset": d.subset, "kind": d.kind, "status": d.status,
        "multi_label": d.multi_label, "labels": d.labels, "qa_file_no": d.qa_file_no, "flags": d.flags,
    }


@app.command("list")
def list_(
    modality: Optional[str] = typer.Option(None, "--modality", "-m", help="Filter by modality (any spelling the vocabulary knows)."),
    area: Optional[str] = typer.Option(None, "--area", "-a", help="Filter by anatomical area."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Filter by task."),
    status: Optional[str] = typer.Option(None, "--status", help="released or todo."),
    subset: Optional[str] = typer.Option(None, "--subset", "-s", help="Only datasets of this subset id."),
    flagged: bool = typer.Option(False, "--flagged", help="Only entries that carry flags."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help=_CATALOG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of dataset entries."),
) -> None:
    """List source datasets, filtered by MAT elements, status or subset."""
    cat = _load(catalog)
    m, a, t, st = _norm(cat, "modality", modality), _norm(cat, "area", area), _norm(cat, "task", task), _status(status)
    if subset is not None and subset not in cat.subsets:
        from medmat.catalog.issues import unknown_message

        raise fail(escape(unknown_message("subset", subset, cat.subsets)))
    rows = [
        d for d in cat.datasets.values()
        if _match(d, cat, m, a, t, st) and (subset is None or d.subset == subset) and (not flagged or d.flags)
    ]
    if as_json:
        emit_json([_dataset_row(d) for d in rows])
        return
    table = Table(title=f"{len(rows)} dataset(s)")
    table.add_column("id", no_wrap=True)
    for col in ("subset", "triplet", "kind", "status", "labels", "flags"):
        table.add_column(col, overflow="fold")
    for d in rows:
        table.add_row(d.id, d.subset, escape(str(d.triplet)), d.kind, d.status,
                      "?" if d.labels is None else str(len(d.labels)), ", ".join(d.flag_codes))
    out.print(table)


@app.command("show")
def show(
    entry_id: str = typer.Argument(..., metavar="ID", help="A dataset id (or a subset id such as 02)."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help=_CATALOG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the entry as JSON."),
) -> None:
    """Show every field of one dataset (or subset) entry."""
    from medmat.catalog.issues import unknown_message

    cat = _load(catalog)
    if entry_id in cat.datasets:
        entry, what = cat.datasets[entry_id], "dataset"
    elif entry_id in cat.subsets:
        entry, what = cat.subsets[entry_id], "subset"
    else:
        raise fail(escape(unknown_message("dataset or subset", entry_id, [*cat.datasets, *cat.subsets])))
    data = {"entry_type": what, **entry.to_dict(), "defined_in": cat.origins.get(f"{what}:{entry_id}")}
    if as_json:
        emit_json(data)
        return
    table = Table(title=f"{what} {entry_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        if isinstance(value, list):
            text = "\n".join(map(str, value)) if value else "[]"
        elif isinstance(value, dict):
            text = "\n".join(f"{k}: {v}" for k, v in value.items()) if value else "{}"
        else:
            text = "null" if value is None else str(value)
        table.add_row(key, escape(text))
    out.print(table)


@app.command("subsets")
def subsets(
    modality: Optional[str] = typer.Option(None, "--modality", "-m", help="Filter by modality."),
    area: Optional[str] = typer.Option(None, "--area", "-a", help="Filter by anatomical area."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Filter by task."),
    status: Optional[str] = typer.Option(None, "--status", help="released or todo."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help=_CATALOG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of subsets with labels and templates."),
) -> None:
    """List the MAT subsets with their datasets, labels and template counts."""
    cat = _load(catalog)
    m, a, t, st = _norm(cat, "modality", modality), _norm(cat, "area", area), _norm(cat, "task", task), _status(status)
    rows = [s for s in cat.subsets.values() if _match(s, cat, m, a, t, st)]
    if as_json:
        emit_json([{**s.to_dict(), "templates": list(s.templates or [])} for s in rows])
        return
    table = Table(title=f"{len(rows)} subset(s)")
    table.add_column("id", no_wrap=True)
    for col in ("triplet", "kind", "status", "datasets", "labels", "templates"):
        table.add_column(col, overflow="fold")
    for s in rows:
        table.add_row(s.id, escape(str(s.triplet)), s.kind + (" (multi)" if s.multi_label else ""), s.status,
                      str(len(s.datasets)), str(len(s.labels)), str(len(s.templates or [])))
    out.print(table)


@app.command("validate")
def validate(
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help=_CATALOG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print {valid, errors, counts} as JSON."),
) -> None:
    """Validate the built-in catalog and any user files; exit 1 listing every error."""
    from medmat.catalog import CatalogError, load_catalog

    files = [str(p) for p in catalog or []]
    try:
        cat = load_catalog(files)
    except CatalogError as e:
        if as_json:
            emit_json({"valid": False, "files": files, "errors": [
                {"file": i.file, "entry": i.entry, "field": i.field, "message": i.message, "text": str(i)} for i in e.errors]})
        else:
            for issue in e.errors:
                console.print(f"  {issue}", markup=False, highlight=False, soft_wrap=True)
        raise fail(f"{len(e.errors)} catalog error(s)")
    user = [k for k, f in cat.origins.items() if f in files]
    counts = {
        "datasets": len(cat.datasets), "subsets": len(cat.subsets),
        "from_user_files": len(user),
        "templates": sum(len(s.templates or []) for s in cat.subsets.values()),
    }
    if as_json:
        emit_json({"valid": True, "files": files, "errors": [], **counts})
        return
    out.print(f"[green]valid[/]: {counts['datasets']} datasets, {counts['subsets']} subsets, "
              f"{counts['templates']} templates ({counts['from_user_files']} entries from {len(files)} user file(s))")


@app.command("summary")
def summary(
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help=_CATALOG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Counts of datasets per modality, area, task, kind and status, and of flags."""
    cat = _load(catalog)
    ds = list(cat.datasets.values())
    data = {
        "datasets": len(ds),
        "subsets": len(cat.subsets),
        "modalities": _count(d.modality for d in ds),
        "areas": _count(d.area for d in ds),
        "tasks": _count(d.task for d in ds),
        "kinds": _count(d.kind for d in ds),
        "status": _count(d.status for d in ds),
        "subset_status": _count(s.status for s in cat.subsets.values()),
        "flags": _count(c for d in ds for c in d.flag_codes),
        "subset_flags": _count(c for s in cat.subsets.values() for c in s.flag_codes),
        "flagged_datasets": sum(1 for d in ds if d.flags),
        "labels_unknown": sum(1 for d in ds if d.kind == "classification" and d.labels is None),
    }
    if as_json:
        emit_json(data)
        return
    out.print(f"{data['datasets']} datasets ({_fmt(data['status'])}), {data['subsets']} subsets "
              f"({_fmt(data['subset_status'])}); {data['flagged_datasets']} datasets carry flags; "
              f"{data['labels_unknown']} classification datasets without known labels")
    for key in ("modalities", "areas", "tasks", "flags", "subset_flags"):
        table = Table(title=key)
        table.add_column(key)
        table.add_column("datasets" if key != "subset_flags" else "subsets", justify="right")
        for name, n in data[key].items():
            table.add_row(escape(name), str(n))
        out.print(table)


def _count(values) -> dict[str, int]:
    c = Counter(values)
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())
