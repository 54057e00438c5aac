"""`medmat run`, `medmat report` and `medmat demo`: whole studies end to end."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from medmat.cli._common import emit_json, fail, out, reporter
from medmat.cli._options import config_flags
from medmat.study.report_config import ReportConfig


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    from medmat.config import ConfigError, parse_assignments

    try:
        return parse_assignments(sets, "--set")
    except ConfigError as e:
        raise fail(str(e)) from None


def _show(run: Any) -> None:
    results, log = run.results, run.log
    for s in results.summaries:
        t = Table(title=f"{results.name}: {s.scorer} scorer (accuracy %, mean over related/unrelated comparisons)")
        for col in ("target", "arm", "kind", "n train", "accuracy [95% CI]"):
            t.add_column(col)
        for r in results.rows:
            if r.scorer == s.scorer and r.kind in ("zero-shot", "unrelated", "related"):
                t.add_row(r.target, r.arm, r.kind, str(r.n_train),
                          f"{100 * r.accuracy:.1f} [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}]")
        out.print(t)
        from medmat.study.report import verdict

        out.print(verdict(s), highlight=False)
    out.print(f"stages run: {len(log.ran)}, cached: {len(log.cached)}; total {results.timings.get('total_s')} s")
    out.print("report: " + "  and  ".join(str(run.report[k]) for k in ("html", "markdown") if k in run.report))


def _run(config_path: Path, run_dir: Path, overrides: dict[str, Any], as_json: bool, until: str = "report") -> None:
    from medmat.config import ConfigError
    from medmat.study.config import load_study
    from medmat.study.runner import run_study

    try:
        cfg = load_study(config_path, overrides)
    except ConfigError as e:
        raise fail(str(e)) from None
    try:
        with reporter(as_json) as rep:
            run = run_study(cfg, run_dir, reporter=rep, until=until)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as e:
        raise fail(f"study {cfg.name!r} stopped: {str(e).strip(chr(39))}") from None
    log = run.log
    if run.results is None:  # stopped early (--until) or a non-zero rank of a multi-process launch
        if as_json:
            emit_json({"run_dir": str(run_dir), "until": until, "stages_run": log.ran, "stages_cached": log.cached})
        else:
            out.print(f"stopped after '{until}' stages: ran {len(log.ran)}, cached {len(log.cached)} ({run_dir})")
        return
    if as_json:
        emit_json({"run_dir": str(run_dir), "results": str(run_dir / "results.json"),
                   "report_html": str(run.report.get("html", "")), "report_md": str(run.report["markdown"]),
                   "summaries": [s.model_dump() for s in run.results.summaries], "timings": run.results.timings,
                   "stages_run": log.ran, "stages_cached": log.cached})
    else:
        _show(run)


def run_cmd(
    study: Path = typer.Argument(..., help="study YAML (see examples/studies/)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (default runs/<study name>)"),
    sets: list[str] = typer.Option([], "--set", help="override a field: --set train.max_steps=100"),
    until: str = typer.Option("report", "--until", help="stop after: build | plan | train | report"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary on stdout"),
) -> None:
    """Run a whole study: build, plan, train each arm, evaluate, aggregate, report. Resumable."""
    if not study.is_file():
        raise fail(f"{study}: no such study file")
    overrides = _parse_sets(sets)
    from medmat.config import ConfigError, read_yaml_mapping
    from medmat.io import slug

    try:
        name = read_yaml_mapping(study, "study").get("name", study.stem)
    except ConfigError as e:
        raise fail(str(e)) from None
    _run(study, out_dir or Path("runs") / slug(str(name)), overrides, as_json, until)


def demo_cmd(
    out_dir: Path = typer.Option(Path("medmat-demo"), "--out", "-o", help="run folder"),
    sets: list[str] = typer.Option([], "--set", help="override a field of the built-in demo study"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary on stdout"),
) -> None:
    """The main job: a CG study on the synthetic MAT benchmark with the CPU reference model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    study = out_dir / "demo-study.yaml"
    text = resources.files("medmat.study").joinpath("demo.yaml").read_text(encoding="utf-8")
    if not study.is_file() or study.read_text(encoding="utf-8") != text:
        from medmat.io import write_text

        write_text(study, text)
    _run(study, out_dir, _parse_sets(sets), as_json)


@config_flags(ReportConfig, dest="flags", aliases={"out": ["-o"]})
def report_cmd(
    run_dir: Path = typer.Argument(..., help="a run folder holding results.json"),
    as_json: bool = typer.Option(False, "--json"),
    flags: dict[str, Any] | None = None,
) -> None:
    """Write report.md and a self-contained report.html from RUN_DIR/results.json."""
    from medmat.config import ConfigError, resolve_config
    from medmat.study.report import write_report

    try:
        cfg = resolve_config(ReportConfig, flags=flags)
        paths = write_report(run_dir, cfg)
    except (ConfigError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    if as_json:
        emit_json({k: str(v) for k, v in paths.items()})
    else:
        out.print("wrote " + " and ".join(str(paths[k]) for k in ("markdown", "html") if k in paths))


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
    app.command("report")(report_cmd)
