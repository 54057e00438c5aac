"""Mutation fuzzing of every reader (issue 17): a quick seeded campaign, and every file a
campaign ever crashed on, replayed (tests/data/fuzz/cases.json says where each was found
and what the bug was). The long campaign is ``benchmarks/bench_fuzz.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.fuzz_campaign import campaign
from helpers.fuzz_run import BAD, FORMATS, GOOD, Case, make_case, run_case
from medmat.imaging.limits import FileLimits

DATA = Path(__file__).parent / "data" / "fuzz"
CASES = json.loads((DATA / "cases.json").read_text())
QUICK_PER_FORMAT = 60  # 13 formats x 60 = 780 files: about half a minute on one free core


def test_cases_are_deterministic():
    for fmt in FORMATS:
        a, b = make_case(fmt, 5, 3), make_case(fmt, 5, 3)
        assert (a.name, a.data, a.how, a.options) == (b.name, b.data, b.how, b.options)
        assert any(make_case(fmt, 5, i).data != make_case(fmt, 6, i).data for i in range(10))  # the seed matters


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_regression_files(case):
    """Each file once gave a traceback; now it is a skip with a reason or a clear error."""
    data = (DATA / case["file"]).read_bytes()
    assert len(data) <= 16_384  # regression files stay small
    res = run_case(Case(case["fmt"], -1, -1, case["name"], data, "regression", case["options"]),
                   FileLimits(timeout_s=30))
    assert res["outcome"] == case["expect"], res
    if res["outcome"] == "skipped":
        assert res["skipped"] == res["read"] >= 1 and all(res["reasons"]), res
    if "max_read" in case:  # a file that used to expand into one record (and skip) per claimed frame
        assert res["read"] <= case["max_read"], res


def test_quick_campaign_every_format():
    """A seeded campaign over every format: no traceback, hang, blow-up, escape or lost count."""
    report = campaign(FORMATS, QUICK_PER_FORMAT, seed=1717, workers=1, file_timeout_s=20, memory_mb=2048)
    summary = report.summary()
    assert summary["files"] == QUICK_PER_FORMAT * len(FORMATS)
    assert report.failures() == [], json.dumps(summary["failures"], indent=1)
    assert set(summary["by_format"]) == set(FORMATS)
    outcomes = {o for counts in summary["by_format"].values() for o in counts}
    assert outcomes <= set(GOOD) and not outcomes & set(BAD)
    # the mutations reach the decoders: every image format has files that still decode and files that do not
    for fmt in ("png", "jpeg", "tiff", "bmp", "gif", "webp", "dicom", "nifti1", "nifti1-gz", "nifti2"):
        assert summary["by_format"][fmt].get("written") and summary["by_format"][fmt].get("skipped"), fmt
    assert {"corrupt-image", "nifti-corrupt", "not-a-volume"} <= set(summary["skips_by_reason"])
