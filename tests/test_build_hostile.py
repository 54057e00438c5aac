"""Hostile input in a whole build (issue 17): files that open but are not images or volumes of
the kind expected are skips with reasons in ``medmat build`` and clear errors in ``medmat
sources convert``; the per-file limits are build settings (and flags); a worker killed
during a build, or the build itself, leaves a store that resumes to identical output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from helpers.build import class_folders
from helpers.fuzz_seeds import dicom_bytes
from medmat.cli.main import app

runner = CliRunner()
TRIPLET = "CT/Lung/COVID-19 Classification"
DATA = Path(__file__).parent / "data" / "fuzz"


def _text(res) -> str:
    return " ".join(res.output.split())


def _nifti(path: Path, arr: np.ndarray, two: bool = False) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save((nib.Nifti2Image if two else nib.Nifti1Image)(arr, np.eye(4)), path)


def _set_dim(path: Path, index: int, value: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[40 + 2 * index:42 + 2 * index] = int(value).to_bytes(2, "little", signed=True)
    path.write_bytes(bytes(raw))


def _family(folder: Path) -> dict[str, str]:
    """One good volume and every file that opens but is not a volume medmat converts: {name: reason}."""
    vol = np.random.default_rng(0).normal(size=(6, 7, 5)).astype(np.float32)
    _nifti(folder / "good.nii.gz", vol)
    (folder / "cifti.nii").write_bytes((DATA / "row_major.dconn.nii").read_bytes())
    gifti = Path(__import__("nibabel").__file__).parent / "gifti" / "tests" / "data" / "ascii.gii"
    (folder / "surface.nii").write_bytes(gifti.read_bytes() if gifti.is_file() else
                                         b'<?xml version="1.0"?>\n<GIFTI Version="1.0"></GIFTI>\n')
    _nifti(folder / "five.nii", np.zeros((4, 4, 4, 1, 3), np.float32))
    _nifti(folder / "complex.nii", np.zeros((4, 4, 4), np.complex64))
    _nifti(folder / "rgb.nii", np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")]))
    _nifti(folder / "zero.nii", np.zeros((4, 4, 4), np.float32))
    _set_dim(folder / "zero.nii", 2, 0)
    _nifti(folder / "negative.nii", np.zeros((4, 4, 4), np.float32))
    _set_dim(folder / "negative.nii", 1, -3)
    return {"cifti.nii": "not-a-volume", "surface.nii": "not-a-volume", "five.nii": "nifti-unsupported",
            "complex.nii": "nifti-unsupported", "rgb.nii": "nifti-unsupported", "zero.nii": "empty-volume",
            "negative.nii": "nifti-corrupt"}


def _catalog(tmp_path: Path) -> Path:
    tpl = [f"Which finding does this scan show ({i})?" for i in range(6)]
    doc = {
        "subsets": [{"id": "u-vol", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
                     "labels": ["covid", "normal"], "templates": tpl}],
        "datasets": [
            {"id": "vols", "name": "V", "triplet": TRIPLET, "subset": "u-vol", "labels": ["covid", "normal"],
             "layout": {"type": "nifti", "root": "vols"}},
            {"id": "scans", "name": "S", "triplet": TRIPLET, "subset": "u-vol", "labels": ["covid", "normal"],
             "layout": {"type": "dicom", "root": "scans"}},
        ],
    }
    path = tmp_path / "cat.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_not_a_volume_family_is_a_skip_in_build_and_an_error_in_convert(tmp_path):
    data = tmp_path / "data"
    expected = _family(data / "vols" / "covid")
    _nifti(data / "vols" / "normal" / "good2.nii", np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5))
    ramp = (np.arange(80, dtype=np.uint16).reshape(8, 10) * 50)
    (data / "scans" / "covid").mkdir(parents=True)
    (data / "scans" / "covid" / "a.dcm").write_bytes(dicom_bytes(ramp))
    (data / "scans" / "normal").mkdir(parents=True)
    (data / "scans" / "normal" / "b.dcm").write_bytes(dicom_bytes(ramp[::-1].copy()))
    (data / "scans" / "normal" / "nopix.dcm").write_bytes(dicom_bytes(None))
    expected["nopix.dcm"] = "dicom-no-pixel-data"

    res = runner.invoke(app, ["build", "--catalog", str(_catalog(tmp_path)), "--data-root", str(data),
                              "--out", str(tmp_path / "s"), "vols", "scans", "--json"])
    assert res.exit_code == 0, res.output
    totals = json.loads(res.stdout)["totals"]
    assert totals["read"] == 12 == totals["written"] + totals["skipped"] and totals["written"] == 4
    skips = [json.loads(line) for line in (tmp_path / "s" / "skips.jsonl").read_text().splitlines()]
    assert {Path(s["path"]).name: s["reason"] for s in skips} == expected
    assert all(s["detail"] for s in skips)

    for name, reason in expected.items():
        src = next(data.rglob(name))
        res = runner.invoke(app, ["sources", "convert", str(src), str(tmp_path / f"{name}.png")])
        assert res.exit_code == 1 and f"{reason}:" in _text(res), (name, res.output)
        assert "Traceback" not in res.output and not (tmp_path / f"{name}.png").exists()
    res = runner.invoke(app, ["sources", "convert", str(data / "vols" / "covid" / "good.nii.gz"), str(tmp_path / "g.png")])
    assert res.exit_code == 0 and Image.open(tmp_path / "g.png").size == (6, 7)


def test_limits_are_build_settings_and_flags(tmp_path):
    from medmat.build.config import BuildSettings
    from medmat.imaging.limits import MB

    limits = BuildSettings(file_timeout_s=5, max_pixels=1000, max_decoded_mb=2, worker_memory_mb=512).file_limits()
    assert (limits.timeout_s, limits.max_pixels, limits.max_decoded_bytes, limits.worker_memory_bytes) == (
        5, 1000, 2 * MB, 512 * MB)
    for name in ("file_timeout_s", "max_pixels", "max_decoded_mb", "worker_memory_mb"):
        assert BuildSettings.model_fields[name].description
    raw = class_folders(tmp_path / "raw", {"covid": 3, "normal": 3})
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(raw / "covid" / "wide.png")
    res = runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(raw), "--triplet", TRIPLET,
                              "--dataset-id", "ds", "--out", str(tmp_path / "s"), "--json", "--max-pixels", "1500"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["datasets"]["ds"]["skipped_by_reason"] == {"decompression-bomb": 1}
    skip = json.loads((tmp_path / "s" / "skips.jsonl").read_text())
    assert skip["path"].endswith("wide.png") and "max_pixels=1,500" in skip["detail"]


def _store_files(store: Path) -> dict[str, bytes]:
    keep = ("items.jsonl", "store.json", "summary.json", "skips.jsonl")
    out = {n: (store / n).read_bytes() for n in keep}
    out.update({p.relative_to(store).as_posix(): p.read_bytes() for p in (store / "records").glob("*.jsonl")})
    out["images"] = "\n".join(sorted(p.relative_to(store).as_posix() for p in (store / "images").rglob("*.*"))).encode()
    return out


def _adhoc(raw: Path, store: Path, *extra: str):
    return runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(raw), "--triplet", TRIPLET,
                               "--dataset-id", "ds", "--out", str(store), "--json", *extra])


def _count(counter: Path) -> int:
    """Add one to a counter shared by worker processes (appends are atomic); its new value, at least."""
    fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"x")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _once(marker: Path) -> bool:
    """True for exactly one caller, whatever the process."""
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def _wrap_raster(tmp_path: Path, action: str, after: int):
    """Replace the 'raster' loader: the ``after``-th image (counted in a file) triggers ``action``."""
    from medmat.imaging.loaders import LOADERS, load_raster

    counter = tmp_path / "count"

    def loader(path, params, max_side, fmt, limits):
        if _count(counter) >= after and _once(tmp_path / "fired"):
            if action == "kill-worker":
                os.kill(os.getpid(), signal.SIGKILL)
            elif action == "hang":
                __import__("time").sleep(600)
        return load_raster(path, params, max_side, fmt, limits)

    LOADERS.add("raster", loader, replace=True)
    return lambda: LOADERS.add("raster", load_raster, replace=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the simulated kill relies on forked workers")
def test_worker_killed_during_build_resumes_to_identical_output(tmp_path):
    raw = class_folders(tmp_path / "raw", {"covid": 8, "normal": 8})
    assert _adhoc(raw, tmp_path / "clean", "--workers", "2").exit_code == 0
    restore = _wrap_raster(tmp_path, "kill-worker", after=5)
    try:
        res = _adhoc(raw, tmp_path / "s", "--workers", "2")
    finally:
        restore()
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["skipped"] == 0  # the killed worker's file was done again
    assert _store_files(tmp_path / "s") == _store_files(tmp_path / "clean")
    res = _adhoc(raw, tmp_path / "s", "--workers", "2")  # and a resume reuses it as it is
    assert json.loads(res.stdout)["reused"] == ["ds"] and _store_files(tmp_path / "s") == _store_files(tmp_path / "clean")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the simulated hang relies on forked workers")
def test_a_time_limit_skip_is_retried_by_the_next_build(tmp_path):
    raw = class_folders(tmp_path / "raw", {"covid": 4, "normal": 4})
    assert _adhoc(raw, tmp_path / "clean").exit_code == 0
    restore = _wrap_raster(tmp_path, "hang", after=3)
    try:
        res = _adhoc(raw, tmp_path / "s", "--file-timeout-s", "1")
    finally:
        restore()
    assert res.exit_code == 0 and json.loads(res.stdout)["datasets"]["ds"]["skipped_by_reason"] == {"time-limit": 1}
    res = _adhoc(raw, tmp_path / "s", "--file-timeout-s", "1")  # a transient skip: not reused, tried again
    assert res.exit_code == 0 and json.loads(res.stdout)["reused"] == []
    assert _store_files(tmp_path / "s") == _store_files(tmp_path / "clean")


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from medmat.imaging.loaders import LOADERS, load_raster
    counter, after = Path(sys.argv[1]), int(sys.argv[2])
    def loader(path, params, max_side, fmt, limits):
        fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, b"x")
        n = os.fstat(fd).st_size
        os.close(fd)
        if n >= after:
            os.kill(os.getppid(), signal.SIGKILL)  # the build process itself dies mid-way
        return load_raster(path, params, max_side, fmt, limits)
    LOADERS.add("raster", loader, replace=True)
    from medmat.cli.main import app
    sys.argv = ["medmat"] + sys.argv[3:]
    app()
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the simulated kill relies on forked workers")
def test_build_killed_mid_way_resumes_to_identical_output(tmp_path):
    raw = class_folders(tmp_path / "raw", {"covid": 10, "normal": 10})
    assert _adhoc(raw, tmp_path / "clean", "--workers", "2").exit_code == 0
    args = ["build", "--layout", "class_folders", "--root", str(raw), "--triplet", TRIPLET, "--dataset-id", "ds",
            "--out", str(tmp_path / "s"), "--workers", "2"]
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(tmp_path / "count"), "9", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (tmp_path / "s" / "store.json").exists() and not (tmp_path / "s" / "records" / "ds.stage.json").exists()
    assert list((tmp_path / "s" / "images").rglob("*.png"))  # some images were written before the kill
    res = _adhoc(raw, tmp_path / "s", "--workers", "2")
    assert res.exit_code == 0, res.output
    assert _store_files(tmp_path / "s") == _store_files(tmp_path / "clean")
