"""Per-file limits (issue 17): header checks, and guarded workers that stop a file that
hangs, refuse one that needs too much memory, and survive (or record) a worker that dies.

Misbehaving decoders are simulated with test loaders registered in ``LOADERS``: the
worker processes are forked, so they see them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medmat.imaging import LOADERS, materialize
from medmat.imaging.convert import ImageError
from medmat.imaging.limits import MB, NO_LIMITS, FileLimits, check_decoded
from medmat.imaging.loaders import load_raster
from medmat.imaging.workers import run_guarded
from medmat.records import LabeledRecord

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the simulated decoders rely on fork")


def _hang(path, params, max_side, fmt, limits):
    time.sleep(600)


def _die_once(path, params, max_side, fmt, limits):
    marker = Path(path + ".died")
    if not marker.exists():  # the first worker to touch the file is killed from outside
        marker.write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    return load_raster(path, params, max_side, fmt, limits)


def _die_always(path, params, max_side, fmt, limits):
    os.kill(os.getpid(), signal.SIGKILL)


def _hog(path, params, max_side, fmt, limits):
    block = np.ones(2 * 1024 * MB // 8)  # 2 GB, past the worker's cap
    return block


TEST_LOADERS = {"test-hang": _hang, "test-die-once": _die_once, "test-die-always": _die_always, "test-hog": _hog}


@pytest.fixture(autouse=True)
def test_loaders():
    for name, fn in TEST_LOADERS.items():
        LOADERS.add(name, fn, replace=True)
    yield
    for name in TEST_LOADERS:
        LOADERS._items.pop(name, None)


def _raw(tmp_path: Path, n: int = 4) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 10), 40 * i, np.uint8)).save(raw / f"{i}.png")
    return raw


def _recs(n: int, loaders: dict[int, str] | None = None) -> list[LabeledRecord]:
    out = []
    for i in range(n):
        meta = {"source_format": (loaders or {}).get(i, "raster")}
        out.append(LabeledRecord(id=f"d:{i}", dataset="d", image=f"{i}.png", labels=("x",), meta=meta))
    return out


def test_check_decoded_names_the_limit():
    limits = FileLimits(max_pixels=1000, max_decoded_bytes=2 * MB)
    check_decoded(limits, 1000, 4, "img")
    with pytest.raises(ImageError) as e:
        check_decoded(limits, 1001, 1, "img")
    assert e.value.reason == "decompression-bomb" and "max_pixels=1,000" in e.value.detail
    with pytest.raises(ImageError) as e:
        check_decoded(limits.with_(max_pixels=None), 10**6, 3, "img")
    assert e.value.reason == "memory-limit" and "max_decoded_mb=2" in e.value.detail
    check_decoded(NO_LIMITS, 10**12, 8, "img")
    check_decoded(None, 10**12, 8, "img")


def test_decoded_bytes_limit_is_a_skip_before_decoding(tmp_path):
    raw = _raw(tmp_path, 1)
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(raw / "big.png")
    recs = _recs(1) + [LabeledRecord(id="d:big", dataset="d", image="big.png", labels=("x",))]
    out, skips = materialize(recs, raw, tmp_path / "s", limits=FileLimits(max_decoded_bytes=MB // 4))
    assert [r.id for r in out] == ["d:0"]
    assert [(s.path, s.reason) for s in skips] == [("big.png", "memory-limit")]
    assert "max_decoded_mb=0" in skips[0].detail and "400x300" in skips[0].detail


def test_a_hanging_file_is_stopped_and_skipped(tmp_path):
    raw = _raw(tmp_path)
    t0 = time.monotonic()
    out, skips = materialize(_recs(4, {1: "test-hang"}), raw, tmp_path / "s", workers=2,
                             limits=FileLimits(timeout_s=1.5))
    assert time.monotonic() - t0 < 30
    assert sorted(r.id for r in out) == ["d:0", "d:2", "d:3"]
    assert [(s.path, s.reason) for s in skips] == [("1.png", "time-limit")]
    assert "file_timeout_s=1.5" in skips[0].detail


def test_a_file_that_fails_as_a_whole_fails_once_for_all_its_records(tmp_path):
    """Five slices of one volume whose decoding hangs: the time limit is paid once, not five times."""
    raw = _raw(tmp_path, 1)
    recs = [LabeledRecord(id=f"d:s{i}", dataset="d", image="0.png", labels=("x",),
                          meta={"source_format": "test-hang", "slice": i}) for i in range(5)]
    t0 = time.monotonic()
    out, skips = materialize(recs, raw, tmp_path / "s", limits=FileLimits(timeout_s=1.0))
    assert time.monotonic() - t0 < 4.5
    assert not out and [s.reason for s in skips] == ["time-limit"] * 5


def test_a_worker_killed_from_outside_costs_nothing(tmp_path):
    raw = _raw(tmp_path)
    clean, _ = materialize(_recs(4), raw, tmp_path / "clean")
    out, skips = materialize(_recs(4, {2: "test-die-once"}), raw, tmp_path / "s", workers=2)
    assert (raw / "2.png.died").exists() and not skips  # killed once, then done by a fresh worker
    assert [r.image for r in out] == [r.image for r in clean]
    assert [r.meta["image_hash"] for r in out] == [r.meta["image_hash"] for r in clean]


def test_a_file_that_always_kills_its_worker_is_a_skip(tmp_path):
    raw = _raw(tmp_path)
    out, skips = materialize(_recs(4, {0: "test-die-always", 3: "test-die-always"}), raw, tmp_path / "s")
    assert sorted(r.id for r in out) == ["d:1", "d:2"]
    assert sorted((s.path, s.reason) for s in skips) == [("0.png", "worker-crashed"), ("3.png", "worker-crashed")]
    assert "SIGKILL" in skips[0].detail and "2 tries" in skips[0].detail


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="the address-space cap is Linux-only")
def test_a_file_that_needs_too_much_memory_is_a_skip(tmp_path):
    raw = _raw(tmp_path, 2)
    out, skips = materialize(_recs(2, {1: "test-hog"}), raw, tmp_path / "s",
                             limits=FileLimits(worker_memory_bytes=256 * MB))
    assert [r.id for r in out] == ["d:0"]
    assert [(s.path, s.reason) for s in skips] == [("1.png", "memory-limit")]
    assert "worker_memory_mb=256" in skips[0].detail


def _square(task):
    return task[0], True, (task[1] ** 2,)


def test_run_guarded_yields_every_task_once():
    tasks = [(f"k{i}", i) for i in range(25)]
    got = list(run_guarded(_square, tasks, 3, FileLimits(timeout_s=30)))
    assert sorted(got) == sorted((k, True, (i * i,)) for k, i in tasks)
    assert list(run_guarded(_square, [], 2, FileLimits())) == []
