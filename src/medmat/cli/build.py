"""`medmat build` (raw datasets -> VQA store) and `medmat import-medmat` (released json).

Both build a ``BuildConfig`` (defaults < --config YAML < flags) and call the build
stage's one operation, ``medmat.build.build``, as ``medmat run`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from medmat.build.config import BuildSettings
from medmat.cli._common import console, emit_json, fail, out, reporter
from medmat.cli._options import config_flags


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


def _report(outcome: Any, as_json: bool) -> None:
    summary, store = outcome.summary, outcome.store
    if as_json:
        emit_json({
            "store": str(store), "totals": summary["totals"], "datasets": summary["datasets"],
            "reused": outcome.reused,
            "subsets": {sid: {"items": s["items"], "cap": s["cap"]} for sid, s in summary["subsets"].items()},
            "warnings": summary["warnings"], "not_found": outcome.not_found,
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
    if outcome.reused:
        out.print(f"reused stage-1 records of: {', '.join(outcome.reused)}")
    for w in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


def _run_build(data: dict[str, Any], config: Optional[Path], flags: dict[str, Any], out_dir: Path,
               as_json: bool) -> None:
    """Resolve the config (defaults < --config < flags), build, report; strict failures exit 1."""
    from medmat.build import BuildConfig, BuildError, StrictBuildError, build
    from medmat.config import ConfigError, read_yaml_mapping, resolve_config

    try:
        base = read_yaml_mapping(config, "build config") if config else {}
        cfg = resolve_config(BuildConfig, data={**base, **{k: v for k, v in data.items() if v}}, flags=flags,
                             where=str(config) if config else "")
    except ConfigError as e:
        raise fail(str(e)) from None
    try:
        with reporter(as_json) as rep:
            outcome = build(cfg, out_dir, reporter=rep)
    except StrictBuildError as e:
        _report(e.outcome, as_json)
        raise fail(f"--{e}") from None
    except (BuildError, ValueError, OSError, ImportError) as e:  # ImportError: a reader's package is missing
        raise fail(str(e)) from None
    _report(outcome, as_json)


@config_flags(BuildSettings, dest="settings")
def build_cmd(
    dataset_ids: Optional[list[str]] = typer.Argument(None, help="Catalog dataset ids to build."),
    out_dir: Path = typer.Option(..., "--out", help="Store folder to write."),
    config: Optional[Path] = typer.Option(None, "--config", help="Build YAML (BuildConfig fields)."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog YAML (repeatable)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder the catalog layouts are relative to."),
    all_: bool = typer.Option(False, "--all", help="Every released dataset with a layout found under --data-root."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Ad-hoc dataset: layout type (class_folders ...)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Ad-hoc dataset: its folder (or json file)."),
    triplet: Optional[str] = typer.Option(None, "--triplet", help="Ad-hoc dataset: 'Modality/Area/Task'."),
    dataset_id: Optional[str] = typer.Option(None, "--dataset-id", help="Ad-hoc dataset: its id."),
    subset_id: Optional[str] = typer.Option(None, "--subset-id", help="Ad-hoc dataset: subset id (default: dataset id)."),
    split_dirs: Optional[str] = typer.Option(None, "--split-dirs", help="Ad-hoc class folders: 'train=tr,test=te'."),
    as_json: bool = typer.Option(False, "--json"),
    settings: dict[str, Any] | None = None,
) -> None:
    """Build a VQA store from catalog datasets or one ad-hoc dataset."""
    data: dict[str, Any] = {}
    if layout or root or triplet or dataset_id:
        missing = [n for n, v in (("--layout", layout), ("--root", root), ("--triplet", triplet),
                                  ("--dataset-id", dataset_id)) if not v]
        if missing:
            raise fail(f"an ad-hoc build needs {', '.join(missing)}")
        if dataset_ids or all_:
            raise fail("give either catalog dataset ids/--all or an ad-hoc --layout, not both")
        data["adhoc"] = {"layout": layout, "root": str(root), "triplet": triplet, "dataset_id": dataset_id,
                         "subset_id": subset_id, "split_dirs": _parse_split_dirs(split_dirs)}
    elif config is None:
        if data_root is None:
            raise fail("--data-root is needed to build catalog datasets")
        if not dataset_ids and not all_:
            raise fail("name datasets to build, or pass --all")
    data.update(catalogs=[str(c) for c in catalog or []], data_root=str(data_root) if data_root else None,
                datasets=list(dataset_ids or []))
    _run_build(data, config, settings or {}, out_dir, as_json)


@config_flags(BuildSettings, dest="settings")
def import_medmat_cmd(
    json_files: list[Path] = typer.Argument(..., help="Released Med-MAT json files."),
    image_root: Path = typer.Option(..., "--image-root", help="Folder the records' image paths are relative to."),
    out_dir: Path = typer.Option(..., "--out", help="Store folder to write."),
    subset_id: Optional[str] = typer.Option(None, "--subset-id", help="Put every record in this catalog subset."),
    split: str = typer.Option("auto", "--split", help="auto (stratified 9:1), train or test."),
    catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog YAML (repeatable)."),
    as_json: bool = typer.Option(False, "--json"),
    settings: dict[str, Any] | None = None,
) -> None:
    """Import released Med-MAT json (questions, options and letters kept as released)."""
    for f in json_files:
        if not f.is_file():
            raise fail(f"{f} is not a file")
    if not image_root.is_dir():
        raise fail(f"--image-root {image_root} is not a folder")
    data = {"medmat_json": [str(f) for f in json_files], "image_root": str(image_root), "subset_id": subset_id,
            "split": split, "catalogs": [str(c) for c in catalog or []]}
    _run_build(data, None, settings or {}, out_dir, as_json)


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)
    app.command("import-medmat")(import_medmat_cmd)
