"""Mutation-fuzz campaign over every reader medmat has (issue 17).

Valid seed files of each format (PNG, JPEG, TIFF, BMP, GIF, WebP, DICOM incl. compressed
transfer syntaxes, NIfTI-1/2 incl. .gz and CIFTI, label tables, released Med-MAT json,
catalog YAML) are mutated (bit flips, truncation, header fields at extremes, duplicated
or dropped chunks/elements, wrong lengths) and each one is read and materialised the way a
build does, with the per-file limits in guarded worker processes. Every outcome must be an
item, a skip with a reason or the reader's clear dataset-level error; the campaign counts
tracebacks, hangs (past the harness's own limit), memory blow-ups (a worker that died),
unbalanced counts and writes outside the store, which must all be 0 (exit status 1
otherwise). Cases are deterministic: (format, --seed, index) gives the same file on every
machine, and --save writes the failing ones for a regression test.

    .venv/bin/python benchmarks/bench_fuzz.py --files 20000 --seed 17 [--formats png,dicom,...]
        [--workers 2] [--file-timeout 10] [--memory-mb 3072] [--hang-s 120] [--start 0] [--save DIR] [--json]

``--files`` is the total (at least), split evenly over the formats. The harness code lives in
``tests/helpers/fuzz_*.py`` (the quick seeded run in the suite is ``tests/test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.fuzz_campaign import campaign  # noqa: E402
from helpers.fuzz_run import BAD, FORMATS, make_case  # noqa: E402


def _save(report, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in report.failures():
        case = make_case(r["fmt"], r["seed"], r["index"])
        path = folder / f"{r['fmt']}-s{r['seed']}-{r['index']}-{case.name}"
        path.write_bytes(case.data)
        (path.parent / (path.name + ".txt")).write_text(f"{case.label}\n{r['outcome']}: {r.get('detail')}\n"
                                                         f"{r.get('traceback', '')}\n")
        written.append(str(path))
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000, help="mutated files in all (split evenly over the formats)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated, of: {', '.join(FORMATS)}")
    ap.add_argument("--workers", type=int, default=2, help="harness worker processes")
    ap.add_argument("--file-timeout", type=float, default=10.0, help="production per-file time limit (s)")
    ap.add_argument("--memory-mb", type=int, default=3072, help="memory cap of each harness/decode worker")
    ap.add_argument("--hang-s", type=float, default=None, help="harness limit per file (default max(120, 6 x timeout))")
    ap.add_argument("--start", type=int, default=0, help="first case index (to continue a campaign)")
    ap.add_argument("--save", type=Path, default=None, help="write failing cases (file + .txt) here")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    a = ap.parse_args()
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    per_format = max(1, -(-a.files // len(formats)))  # at least --files in all
    done = [0]
    t0 = time.perf_counter()

    def progress(res: dict) -> None:
        done[0] += 1
        if res["outcome"] in BAD:
            print(f"  FAIL {res['fmt']}#{res['index']}: {res['outcome']}: {res.get('detail')}", file=sys.stderr)
        if done[0] % 500 == 0 and not a.json:
            print(f"  {done[0]} files, {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    report = campaign(formats, per_format, a.seed, workers=a.workers, file_timeout_s=a.file_timeout,
                      hang_s=a.hang_s, memory_mb=a.memory_mb, start=a.start, progress=progress)
    summary = report.summary()
    summary.update(command=" ".join(["benchmarks/bench_fuzz.py"] + sys.argv[1:]), python=platform.python_version(),
                   per_format=per_format)
    if a.save and report.failures():
        summary["saved"] = _save(report, a.save)
    if a.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{summary['files']} mutated files in {summary['seconds']} s ({per_format} per format, seed {a.seed})")
        print(f"{'format':<14}" + "".join(f"{k:>10}" for k in ("tried", "written", "skipped", "empty", "error", "BAD")))
        for fmt, counts in summary["by_format"].items():
            bad = sum(v for k, v in counts.items() if k in BAD)
            print(f"{fmt:<14}{sum(counts.values()):>10}" + "".join(f"{counts.get(k, 0):>10}" for k in
                  ("written", "skipped", "empty", "error")) + f"{bad:>10}")
        print("skips by reason: " + ", ".join(f"{k} {v}" for k, v in summary["skips_by_reason"].items()))
        for key in ("tracebacks", "hangs", "memory_blowups", "unexpected_skips", "unbalanced", "escapes"):
            print(f"{key}: {summary[key]}")
        s = summary["slowest"]
        if s:
            print(f"slowest file: {s['fmt']}#{s['index']} (seed {s['seed']}, {s['name']}: {s['how']}) "
                  f"{s['seconds']:.2f} s -> {s['outcome']}")
        print(f"peak RSS: harness worker {summary['peak_rss_mb']['harness_worker']} MB, "
              f"decode worker {summary['peak_rss_mb']['decode_worker']} MB")
        for f in summary["failures"]:
            print(f"FAIL {f['fmt']}#{f['index']} {f['name']}: {f['how']} -> {f['outcome']}: {f['detail']}")
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
