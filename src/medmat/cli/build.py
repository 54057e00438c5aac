"""`medmat build` (raw datasets -> VQA store) and `medmat import-medmat` (released json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.cli._common import console, emit_json, fail, out, progress


def _parse_split_dirs(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        if "=" not in part:
            raise fail(f"--split-dirs is 'train=DIR,test=DIR', got {text!r}")
        k, v = part.split("=", 1)
        pairs[k.strip()] = v.strip()
    return pairs


def _report(summary: dict[str, Any], results: dict[str, Any], store: Path, as_json: bool) -> None:
    if as_json:
        emit_json({
            "store": str(store), "totals": summary["totals"], "datasets": summary["datasets"],
            "reused": sorted(ds for ds, r in results.items() if r.reused),
            "subsets": {sid: {"items": s["items"], "cap": s["cap"]} for sid, s in summary["subsets"].items()},
            "warnings": summary["warnings"],
            "paths": {name: str(store / name) for name in ("items.jsonl", "store.json", "skips.jsonl", "summary.json")},
        })
        return
    from rich.table import Table

    t = Table(title=f"VQA store {store}")
    for col in ("subset", "triplet", "train", "test", "cap keeps"):
        t.add_column(col)
    for sid, s in summary["subsets"].items():
        t.add_row(sid, s["triplet"], str(s["items"].get("train", 0)), str(s["items"].get("test", 0)),
                  f"{s['cap']['kept']}/{s['cap']['train']}")
    out.print(t)
    tot = summary["totals"]
    out.print(f"read {tot['read']}, written {tot['written']}, skipped {tot['skipped']} "
              f"(+{tot['item_skips']} questions skipped); {tot['items']} items. Skips: {store / 'skips.jsonl'}")
    reused = sorted(ds for ds, r in results.items() if r.reused)
    if reused:
        out.print(f"reused stage-1 records of: {', '.join(reused)}")
    for w in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


def build_cmd(
    dataset_ids: Optional[list[str]] = typer.Argument(None, help="Catalog dataset ids to build."),
    out_dir: Path = typer.Option(..., "--out", help="Store folder to write."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog YAML (repeatable)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder the catalog layouts are relative to."),
    all_: bool = typer.Option(False, "--all", help="Every released dataset with a layout found under --data-root."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Ad-hoc dataset: layout type (class_folders ...)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Ad-hoc dataset: its folder (or json file)."),
    triplet: Optional[str] = typer.Option(None, "--triplet", help="Ad-hoc dataset: 'Modality/Area/Task'."),
    dataset_id: Optional[str] = typer.Option(None, "--dataset-id", help="Ad-hoc dataset: its id."),
    subset_id: Optional[str] = typer.Option(None, "--subset-id", help="Ad-hoc dataset: subset id (default: dataset id)."),
    split_dirs: Optional[str] = typer.Option(None, "--split-dirs", help="Ad-hoc class folders: 'train=tr,test=te'."),
    seed: int = typer.Option(0, "--seed"),
    cap: int = typer.Option(3000, "--cap", help="Per-subset train cap recorded in the store (0 = none)."),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Longest image side in the store."),
    workers: int = typer.Option(1, "--workers", min=1),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when anything was skipped (after writing)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Build a VQA store from catalog datasets or one ad-hoc dataset."""
    from medmat.pipeline import BuildSettings, build_store
    from medmat.pipeline.plan import BuildPlanError, adhoc_plan, plan_from_catalog

    try:
        if layout or root or triplet or dataset_id:
            missing = [n for n, v in (("--layout", layout), ("--root", root), ("--triplet", triplet),
                                      ("--dataset-id", dataset_id)) if not v]
            if missing:
                raise fail(f"an ad-hoc build needs {', '.join(missing)}")
            if dataset_ids or all_:
                raise fail("give either catalog dataset ids/--all or an ad-hoc --layout, not both")
            if not root.exists():
                raise fail(f"--root {root} does not exist")
            jobs, subsets, droot = adhoc_plan(layout, root, triplet, dataset_id, subset_id,
                                              _parse_split_dirs(split_dirs))
        else:
            try:
                from medmat.catalog import load_catalog
            except ImportError as e:
                raise fail(f"the catalog is not available: {e}") from None
            if data_root is None:
                raise fail("--data-root is needed to build catalog datasets")
            try:
                cat = load_catalog(user_files=list(catalog or []))
            except (ValueError, OSError) as e:
                raise fail(f"catalog: {e}") from None
            jobs, subsets, not_found = plan_from_catalog(cat, list(dataset_ids or []), all_, data_root)
            droot = data_root
            if not_found:
                console.print(f"[yellow]not built (input missing under {data_root}):[/] {', '.join(not_found)}",
                              highlight=False)
    except BuildPlanError as e:
        raise fail(str(e)) from None
    settings = BuildSettings(seed=seed, cap=cap or None, max_side=max_side, workers=workers)
    try:
        with progress(not as_json) as prog:
            summary, results = build_store(jobs, subsets, droot, out_dir, settings, progress=prog)
    except (ValueError, OSError) as e:
        raise fail(str(e)) from None
    _report(summary, results, out_dir, as_json)
    n_skips = summary["totals"]["skips_logged"]
    if strict and n_skips:
        raise fail(f"--strict: {n_skips} skips (see {out_dir / 'skips.jsonl'})")


def import_medmat_cmd(
    json_files: list[Path] = typer.Argument(..., help="Released Med-MAT json files."),
    image_root: Path = typer.Option(..., "--image-root", help="Folder the records' image paths are relative to."),
    out_dir: Path = typer.Option(..., "--out", help="Store folder to write."),
    subset_id: Optional[str] = typer.Option(None, "--subset-id", help="Put every record in this catalog subset."),
    split: str = typer.Option("auto", "--split", help="auto (stratified 9:1), train or test."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog YAML (repeatable)."),
    seed: int = typer.Option(0, "--seed"),
    cap: int = typer.Option(3000, "--cap", help="Per-subset train cap recorded in the store (0 = none)."),
    workers: int = typer.Option(1, "--workers", min=1),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when anything was skipped (after writing)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import released Med-MAT json (questions, options and letters kept as released)."""
    from medmat.catalog import load_catalog
    from medmat.pipeline import BuildSettings
    from medmat.pipeline.importer import import_medmat

    for f in json_files:
        if not f.is_file():
            raise fail(f"{f} is not a file")
    if not image_root.is_dir():
        raise fail(f"--image-root {image_root} is not a folder")
    try:
        cat = load_catalog(user_files=list(catalog or []))
        with progress(not as_json) as prog:
            summary, results = import_medmat(json_files, image_root, out_dir, cat, subset_id, split,
                                              BuildSettings(seed=seed, cap=cap or None, workers=workers),
                                              progress=prog)
    except (ValueError, OSError) as e:
        raise fail(str(e)) from None
    _report(summary, results, out_dir, as_json)
    if strict and summary["totals"]["skips_logged"]:
        raise fail(f"--strict: {summary['totals']['skips_logged']} skips (see {out_dir / 'skips.jsonl'})")


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)
    app.command("import-medmat")(import_medmat_cmd)
