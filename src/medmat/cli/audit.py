"""`medmat audit`: duplicate and near-duplicate images across splits and subsets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from medmat.cli._common import emit_json, fail, out, reporter


def audit_cmd(
    store: Path = typer.Argument(..., help="A VQA store built by `medmat build`."),
    near_threshold: int = typer.Option(6, "--near-threshold", min=0, max=32,
                                       help="Max pHash Hamming distance (of 64 bits) for a near duplicate."),
    min_similarity: float = typer.Option(0.9, "--min-similarity", min=0.0, max=1.0,
                                         help="Structure similarity a pHash candidate needs (0 = keep all)."),
    report_path: Optional[Path] = typer.Option(None, "--out", help="Write the full report JSON here."),
    workers: int = typer.Option(1, "--workers", min=1),
    fail_on_leak: bool = typer.Option(False, "--fail-on-leak", help="Exit 2 when a leak is found."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find exact (pixel) and perceptual duplicates that leak between splits or subsets."""
    from medmat.audit import audit_store, has_leak
    from medmat.io import write_json
    from medmat.store import StoreError, VQAStore

    try:
        st = VQAStore(store)
    except StoreError as e:
        raise fail(str(e)) from None
    n_images = len({it.image for it in st.items()})
    with reporter(as_json) as rep, rep.task("hashing images", total=n_images) as task:
        report = audit_store(st, near_threshold, workers, tick=task.advance, min_similarity=min_similarity)
    if report_path is not None:
        write_json(report_path, report)
    if as_json:
        emit_json(report if report_path is None else {"report": str(report_path), **report["summary"]})
    else:
        s = report["summary"]
        out.print(f"{s['images']} images ({s['items']} items): {s['exact_groups']} exact duplicate groups, "
                  f"{s['near_pairs']} near pairs (<= {near_threshold} bits, similarity >= {min_similarity}; "
                  f"{s['near_candidates']} pHash candidates), {s['unreadable']} unreadable")
        for k, v in s["leaks"].items():
            out.print(f"  {k}: {v}")
        for row in report["exact"][:10]:
            out.print(f"  exact {', '.join(row['images'])} leaks={row['leaks']}")
        for row in report["near"][:10]:
            out.print(f"  near d={row['distance']} {row['a']['images'][0]} ~ {row['b']['images'][0]} "
                      f"leaks={row['leaks']}")
        if report_path is not None:
            out.print(f"full report: {report_path}")
    if fail_on_leak and has_leak(report):
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)
