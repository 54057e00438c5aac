"""``medmat plan`` (one target or a whole study), ``medmat plan check`` and ``medmat advise``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from medmat.cli._common import console, emit_json, fail, out, reporter
from medmat.cli._options import config_flags
from medmat.plan.config import PlanConfig

PLAN_HELP = """Write an experiment manifest for a compositional-generalization target.

One target:   medmat plan --store STORE --target "CT/Lung/COVID-19 Classification" --out plan.yaml
Whole study:  medmat plan --store STORE --all-targets --out-dir plans/
Check a file: medmat plan check plan.yaml
"""


def _errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from medmat.config import ConfigError
    from medmat.plan import AdviceError, ManifestError, PlanError
    from medmat.registry import UnknownNameError
    from medmat.store import StoreError

    return (PlanError, ManifestError, StoreError, AdviceError, UnknownNameError, ValidationError, ConfigError,
            ValueError)


def _arm_table(manifest) -> Table:
    t = Table(title=f"{manifest.target} (subset {manifest.target_subset}): {len(manifest.arms)} arms")
    for col in ("arm", "kind", "direction", "train subsets", "n_train", "matched with", "leaks dropped"):
        t.add_column(col, justify="right" if col in ("n_train", "leaks dropped") else "left")
    for a in manifest.arms:
        n = f"{a.n_train}" + (f" (was {a.downsized_from})" if a.downsized_from else "")
        t.add_row(a.name, a.kind, a.direction or "", ", ".join(a.train_subsets), n, a.matched_with or "",
                  str(a.dropped_leaks))
    return t


def _summary(manifest, path: Path) -> dict:
    return {
        "manifest": str(path), "target": manifest.target, "target_subset": manifest.target_subset,
        "n_test": len(manifest.arms[0].test) if manifest.arms else 0,
        "arms": [{"name": a.name, "kind": a.kind, "direction": a.direction, "train_subsets": a.train_subsets,
                  "n_train": a.n_train, "matched_with": a.matched_with, "dropped_leaks": a.dropped_leaks,
                  "downsized_from": a.downsized_from} for a in manifest.arms],
        "skipped": [s.model_dump() for s in manifest.skipped],
    }


def register(app: typer.Typer) -> None:
    plan_app = typer.Typer(help=PLAN_HELP, no_args_is_help=False)

    @plan_app.callback(invoke_without_command=True)
    @config_flags(PlanConfig, dest="flags", exclude=("targets", "all_targets"),
                  aliases={"low_data_k": ["--k"], "train_size": ["--max-train"], "directions": ["--direction"]})
    def plan(
        ctx: typer.Context,
        store: Optional[Path] = typer.Option(None, "--store", help="VQA store built by `medmat build`."),
        target: Optional[list[str]] = typer.Option(None, "--target", help="Target triplet 'Modality/Area/Task' "
                                                   "(repeatable; several need --out-dir)."),
        out_path: Optional[Path] = typer.Option(None, "--out", help="Manifest file (.yaml or .json), one target."),
        all_targets: bool = typer.Option(False, "--all-targets", help="Plan every eligible target."),
        targets_file: Optional[Path] = typer.Option(None, "--targets-file", help="Targets, one triplet a line."),
        out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Folder for several targets + study index."),
        fmt: str = typer.Option("yaml", "--format", help="Manifest format in --out-dir: yaml or json."),
        config: Optional[Path] = typer.Option(None, "--config", help="Plan YAML (PlanConfig fields)."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
        flags: dict[str, Any] | None = None,
    ) -> None:
        if ctx.invoked_subcommand is not None:
            return
        from medmat.config import resolve_config
        from medmat.plan import plan_targets, read_targets_file
        from medmat.store import VQAStore

        if store is None:
            raise fail("--store is required (a folder written by `medmat build`)")
        named = list(target or [])
        if (named and (all_targets or targets_file)) or (all_targets and targets_file):
            raise fail("give either --target, --targets-file or --all-targets, not both")
        if targets_file is not None:
            if not targets_file.is_file():
                raise fail(f"--targets-file {targets_file}: no such file")
            named = read_targets_file(targets_file)
        try:
            cfg = resolve_config(PlanConfig, file=config,
                                 flags={**(flags or {}), "targets": named or None, "all_targets": all_targets or None},
                                 where=str(config) if config else "")
            cfg.check_targets()
        except _errors() as e:
            raise fail(str(e)) from None
        single = out_path is not None
        if single and (out_dir is not None or cfg.all_targets or len(cfg.targets) != 1):
            raise fail("--out writes one target's manifest: give --out-dir for several targets or --all-targets")
        if not single and out_dir is None:
            raise fail("--out-dir is required for several targets or --all-targets (or --out FILE for one target)")
        try:
            vqa = VQAStore(store)
            with reporter(as_json) as rep, rep.task("planning targets") as task:
                result = plan_targets(vqa, cfg, out_dir, fmt=fmt, manifest_file=out_path,
                                      require_all=bool(target),
                                      on_target=lambda i, n, name: task.update(completed=i, total=n))
        except _errors() as e:
            raise fail(str(e)) from None
        if single:
            from medmat.plan import load_manifest

            manifest = load_manifest(out_path)
            if as_json:
                emit_json(_summary(manifest, out_path))
            else:
                out.print(_arm_table(manifest))
                for s in manifest.skipped:
                    console.print(f"[yellow]skipped[/] {s.name}: {s.reason}", highlight=False)
                console.print(f"wrote {out_path}")
            return
        study = result.index
        if as_json:
            emit_json(study)
            return
        t = Table(title=f"study: {len(study['targets'])} targets planned in {out_dir}")
        for col in ("subset", "target", "directions", "arms", "manifest"):
            t.add_column(col)
        for r in study["targets"]:
            t.add_row(r["subset"], r["target"], ", ".join(r["directions"]), str(len(r["arms"])), r["manifest"])
        out.print(t)
        for s in study["skipped"]:
            console.print(f"[yellow]not planned[/] {s['target']}: {s['reason']}", highlight=False)

    @plan_app.command("check")
    def check(
        manifest_path: Path = typer.Argument(..., help="Manifest file to validate."),
        store: Optional[Path] = typer.Option(None, "--store", help="Store to check against (default: the manifest's)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Validate a manifest and its invariants against the store it names."""
        from medmat.plan import check_manifest, load_manifest
        from medmat.store import VQAStore

        try:
            manifest = load_manifest(manifest_path)
            root = store or manifest.store_path()
            problems = check_manifest(manifest, VQAStore(root))
        except _errors() as e:
            raise fail(str(e)) from None
        if as_json:
            emit_json({"manifest": str(manifest_path), "store": str(root), "ok": not problems, "problems": problems})
        elif not problems:
            out.print(f"[green]ok[/] {manifest_path}: {len(manifest.arms)} arms, invariants hold against {root}")
        if problems:
            if not as_json:
                for p in problems:
                    console.print(f"[red]-[/] {p}", highlight=False)
            raise fail(f"{manifest_path}: {len(problems)} invariant(s) broken")

    app.add_typer(plan_app, name="plan")

    @app.command("advise")
    def advise_cmd(
        target: str = typer.Option(..., "--target", help="Target triplet 'Modality/Area/Task'."),
        store: Optional[Path] = typer.Option(None, "--store", help="Built store (gives item counts)."),
        catalog: Optional[list[Path]] = typer.Option(None, "--catalog", help="User catalog file(s)."),
        cap: Optional[int] = typer.Option(None, "--cap", help="Per-subset cap used for counts (0: none; default: "
                                          "the store's cap, else the Med-MAT cap)."),
        max_covers: int = typer.Option(10, "--max-covers", help="Covers to show (0: all)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Which subsets (datasets) would help TARGET: ranked, with minimal covering combinations."""
        from medmat.plan import advise
        from medmat.store import VQAStore

        try:
            adv = advise(target, VQAStore(store) if store else None, catalog, cap=cap,
                         max_covers=max_covers or None)
        except _errors() as e:
            raise fail(str(e)) from None
        if as_json:
            emit_json(adv.to_dict())
            return
        _print_advice(adv)


def _print_advice(adv) -> None:
    n = "unknown" if adv.target_n_train is None else str(adv.target_n_train)
    out.print(f"target [bold]{adv.target}[/]: target-like subsets {', '.join(adv.target_subsets) or 'none'}; "
              f"its training items: {n}")
    t = Table(title="subsets sharing elements with the target")
    for col in ("subset", "triplet", "M", "A", "T", "train items", "built", "datasets"):
        t.add_column(col)
    for r in adv.ranked:
        marks = ["x" if e in r.shares else "" for e in ("modality", "area", "task")]
        built = "yes" if r.in_store else f"no ({r.status})" if r.status else "no"
        names = ", ".join(r.datasets[:3]) + (" ..." if len(r.datasets) > 3 else "")
        t.add_row(r.id, r.triplet, *marks, "?" if r.n_train is None else str(r.n_train), built, names)
    out.print(t)
    if adv.missing:
        out.print(f"[yellow]no subset supplies:[/] {', '.join(adv.missing)}")
    c = Table(title="minimal covering combinations (fewest subsets, then fewest items)")
    for col in ("subsets", "direction", "items each", "total"):
        c.add_column(col)
    for cv in adv.covers:
        each = ", ".join(f"{k}: {'?' if v is None else v}" for k, v in cv.contributions.items())
        c.add_row(" + ".join(cv.subsets), cv.direction or "", each, "?" if cv.n_train is None else str(cv.n_train))
    out.print(c)
