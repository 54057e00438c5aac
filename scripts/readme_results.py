#!/usr/bin/env python
"""Put measured study results into the README from files, never by hand.

A study run's ``results.json`` is kept under ``docs/results/<name>/`` (``--save RUN_DIR``
copies it there with the run's date, machine and wall time); this script renders its
tables between ``<!-- results:<name> -->`` and ``<!-- /results:<name> -->`` in README.md and
redraws the README figures from it. ``--check`` fails when the README text differs from
what the saved results give (the test suite runs it); figures are only redrawn, since their
bytes depend on the matplotlib and FreeType versions.

    .venv/bin/python scripts/readme_results.py --save medmat-demo --name demo --command "medmat demo"
    .venv/bin/python scripts/readme_results.py            # rewrite README blocks + figures
    .venv/bin/python scripts/readme_results.py --check    # exit 1 if anything is stale
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

from medmat.io import read_json, write_bytes, write_json, write_text
from medmat.study import plots
from medmat.study.report import md_table
from medmat.study.tables import accuracy_cell, paper_tables, pct, summary_table, variants_table
from medmat.study.results import StudyResults
from medmat.study.sections import association_sentence, leave_out_table, multitask_summary_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FIGURES = {"demo": [("docs/img/demo-arms.png", plots.arm_bars), ("docs/img/demo-gain.png", plots.gain_heatmap)],
           "synth-multitask": [("docs/img/multitask.png", plots.multitask_figure)],
           "synth-dial": [("docs/img/dial.png", plots.dial_figure)]}


def _run_line(run: dict) -> str:
    t = run.get("timings", {})
    mins, secs = divmod(int(round(t.get("total_s", 0))), 60)
    training = f"{t.get('train_s', 0):.0f} s training"
    if "train_wall_s" in t:  # trainings ran in parallel processes: their seconds add up to more than the wall
        training = f"{t['train_wall_s']:.0f} s training ({t.get('train_s', 0):.0f} s summed over parallel trainings)"
    return (f"Measured by `{run['command']}` on {run['date']} ({run['machine']}, {run['cpus']} CPUs): "
            f"{mins} min {secs:02d} s inside the study, of which {training}.")


def _demo_block(res: StudyResults, run: dict) -> str:
    scorer = "option"
    tables = paper_tables(res, scorer)
    rows = [row for _, _, group in tables for row in group]
    s = next(x for x in res.summaries if x.scorer == scorer)
    lines = [_run_line(run), "", md_table(tables[0][1], rows), "",
             f"Accuracy % on each target's test items ({scorer} scorer, 95% bootstrap intervals; gain is a paired "
             f"bootstrap on the same items). Related beat unrelated in {s.related_wins} of {s.comparisons} "
             f"comparisons: mean gain **{100 * s.mean_gain:+.1f} points, 95% interval [{100 * s.gain_ci_low:+.1f}, "
             f"{100 * s.gain_ci_high:+.1f}]**; mean accuracy zero-shot {pct(s.mean_zero_shot)}, unrelated "
             f"{pct(s.mean_unrelated)}, related {pct(s.mean_related)}."]
    indist = sorted(r.in_distribution_accuracy for r in res.rows
                    if r.scorer == scorer and r.kind == "unrelated" and r.in_distribution_accuracy is not None)
    if indist:
        lines.append(f"In distribution (test items of their own training subsets) the unrelated models reach "
                     f"{pct(indist[0])}-{pct(indist[-1])}%.")
    other = [x for x in res.summaries if x.scorer != scorer]
    for o in other:
        invalid = max((r.invalid_rate for r in res.rows if r.scorer == o.scorer), default=0.0)
        lines.append(f"The {o.scorer} scorer: mean gain {100 * o.mean_gain:+.1f} [{100 * o.gain_ci_low:+.1f}, "
                     f"{100 * o.gain_ci_high:+.1f}], at most {100 * invalid:.1f}% unparseable answers per arm.")
    return "\n".join(lines)


def _arms_block(res: StudyResults, run: dict) -> str:
    rows = [[r.arm, str(r.n_train), accuracy_cell(r), pct(r.in_distribution_accuracy)]
            for r in res.rows if r.scorer == "option"]
    targets = ", ".join(res.targets())
    return "\n".join([_run_line(run), "", f"Target {targets} ({len(res.rows) and res.rows[0].n} test items):", "",
                      md_table(["arm", "n train", "target accuracy % [95% CI]", "in-distribution %"], rows)])


def _table3_block(res: StudyResults, run: dict) -> str:
    title, header, rows = summary_table(res, "option")
    return "\n".join([_run_line(run), "", f"{title}, option scorer, accuracy %:", "", md_table(header, rows)])


def _variants_block(res: StudyResults, run: dict) -> str:
    title, header, rows = variants_table(res, "option")
    return "\n".join([_run_line(run), "", f"{title}, option scorer, accuracy % ({len(rows[0]) and rows[0][1]} "
                      f"targets drawn by a fixed seed):", "", md_table(header, rows)])


def _cls_det_block(res: StudyResults, run: dict) -> str:
    title, header, rows = summary_table(res, "option")  # no Table-3 row: the study is cross-kind (aggregate.py)
    return "\n".join([_run_line(run), "", f"{title}, option scorer, accuracy %:", "", md_table(header, rows), "",
                      "The paper (v2) reports detection -> classification only as a count: models trained on "
                      "detection data of related combinations improved 8 of 8 classification targets (two "
                      "detection-capable MLLMs, real data)."])


def _multitask_block(res: StudyResults, run: dict) -> str:
    s = next(x for x in res.multitask if x.scorer == "option")
    title, header, rows = multitask_summary_table(s)
    return "\n".join([_run_line(run), "", f"{title}:", "", md_table(header, rows), "",
                      association_sentence(s), "", "![multi-task study](docs/img/multitask.png)"])


def _dial_block(res: StudyResults, run: dict) -> str:
    title, header, rows = leave_out_table(res, "option")
    return "\n".join([_run_line(run), "", f"{title}:", "", md_table(header, rows), "",
                      "![entanglement dial](docs/img/dial.png)"])


BLOCKS = {"demo": _demo_block, "synth-leave-out": _arms_block, "synth-table3": _table3_block,
          "synth-sft-vs-rl": _variants_block, "synth-cls-det": _cls_det_block, "synth-multitask": _multitask_block,
          "synth-dial": _dial_block}


def save(run_dir: Path, name: str, command: str) -> None:
    """Keep a run's results.json (and when/where it ran) under docs/results/NAME/."""
    res = StudyResults.load(run_dir / "results.json")
    out = RESULTS / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "results.json", out / "results.json")
    import os
    import platform

    write_json(out / "run.json", {"command": command, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                                  "machine": f"{platform.system()} {platform.machine()}",
                                  "cpus": os.cpu_count(), "timings": res.timings})


def render(readme: str) -> tuple[str, dict[Path, bytes]]:
    """The README with every results block regenerated, and the figures it shows."""
    figures: dict[Path, bytes] = {}
    for name, block in BLOCKS.items():
        folder = RESULTS / name
        if not (folder / "results.json").is_file():
            continue
        res, run = StudyResults.load(folder / "results.json"), read_json(folder / "run.json")
        pattern = re.compile(rf"(<!-- results:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /results:{re.escape(name)} -->)",
                             re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- results:{name} --> block")
        text = block(res, run)
        readme = pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme)
        for path, draw in FIGURES.get(name, []):
            png = draw(res, "option")
            if png is not None:
                figures[ROOT / path] = png
    return readme, figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", type=Path, help="a run folder whose results.json to keep under docs/results/NAME")
    ap.add_argument("--name", help="with --save: the block name (demo, synth-leave-out)")
    ap.add_argument("--command", default="", help="with --save: the command that made the run")
    ap.add_argument("--check", action="store_true", help="exit 1 when README.md is stale or a figure missing")
    args = ap.parse_args(argv)
    if args.save:
        if args.name not in BLOCKS:
            ap.error(f"--name must be one of {', '.join(BLOCKS)}")
        save(args.save, args.name, args.command or f"medmat run ({args.name})")
    readme_path = ROOT / "README.md"
    current = readme_path.read_text(encoding="utf-8")
    new, figures = render(current)
    if args.check:
        stale = ([str(readme_path)] if new != current else []) + [str(p) for p in figures if not p.is_file()]
        if stale:
            print("stale (run scripts/readme_results.py): " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    write_text(readme_path, new)
    for path, png in figures.items():
        write_bytes(path, png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
