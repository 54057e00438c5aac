"""Readers against headers that lie (issue 17): a small file that claims billions of frames,
slices or pixels is one skip, decided from the header, never expanded into records first."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from helpers.fuzz_seeds import dicom_bytes
from medmat.imaging.limits import FileLimits
from medmat.records import LabeledRecord, Skip
from medmat.sources import SourceError, read_dataset


def _split(items):
    return [i for i in items if isinstance(i, LabeledRecord)], [i for i in items if isinstance(i, Skip)]


def _dicom(path: Path, frames: str | None = None, rows: int = 8) -> None:
    import pydicom

    ramp = np.arange(rows * 10, dtype=np.uint16).reshape(rows, 10)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(np.stack([ramp, ramp]), frames=2))
    if frames is not None:
        from pydicom.dataelem import DataElement

        ds = pydicom.dcmread(path)
        ds[0x00280008] = DataElement(0x00280008, "LO", frames)  # LO: any text, as a damaged file may hold
        ds.save_as(path)


@pytest.mark.parametrize("policy", ["all", "middle"])
def test_dicom_frame_count_beyond_the_file_is_one_skip(tmp_path, policy):
    _dicom(tmp_path / "A" / "ok.dcm")
    _dicom(tmp_path / "A" / "liar.dcm", frames="2147483647")
    _dicom(tmp_path / "A" / "word.dcm", frames="many")  # not a number: one frame, and decoding tells
    recs, skips = _split(list(read_dataset("d", {"type": "dicom", "frame_policy": policy}, tmp_path)))
    assert [(Path(s.path).name, s.reason) for s in skips] == [("liar.dcm", "dicom-truncated")]
    assert "2,147,483,647 frame" in skips[0].detail
    assert sorted(Path(r.image).name for r in recs) == (["ok.dcm", "ok.dcm", "word.dcm"] if policy == "all"
                                                          else ["ok.dcm", "word.dcm"])


def test_dicom_pixel_limit_is_checked_by_the_reader(tmp_path):
    _dicom(tmp_path / "A" / "big.dcm", rows=64)
    items = list(read_dataset("d", {"type": "dicom", "frame_policy": "all"}, tmp_path,
                              limits=FileLimits(max_pixels=1000)))
    assert [(i.reason, "max_pixels=1,000" in i.detail) for i in items] == [("decompression-bomb", True)]


def _nifti_bytes(shape=(4, 5, 6)) -> bytearray:
    import nibabel as nib

    return bytearray(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)).to_bytes())


def test_nifti_header_claiming_more_voxels_than_the_file_holds(tmp_path):
    (tmp_path / "A").mkdir()
    raw = _nifti_bytes()
    (tmp_path / "A" / "ok.nii").write_bytes(bytes(raw))
    (tmp_path / "A" / "ok.nii.gz").write_bytes(gzip.compress(bytes(raw), mtime=0))
    struct.pack_into("<h", raw, 46, 30000)  # 30,000 slices in a 600-byte file
    (tmp_path / "A" / "liar.nii").write_bytes(bytes(raw))
    (tmp_path / "A" / "liar.nii.gz").write_bytes(gzip.compress(bytes(raw), mtime=0))  # beyond deflate's ratio
    struct.pack_into("<h", raw, 46, 200)  # within deflate's ratio, but the stream ends before the voxels
    (tmp_path / "A" / "short.nii.gz").write_bytes(gzip.compress(bytes(raw), mtime=0))
    recs, skips = _split(list(read_dataset("n", {"type": "nifti", "slice_policy": "all"}, tmp_path)))
    assert len(recs) == 12 and {Path(r.image).name for r in recs} == {"ok.nii", "ok.nii.gz"}
    assert sorted((Path(s.path).name, s.reason) for s in skips) == [
        ("liar.nii", "nifti-corrupt"), ("liar.nii.gz", "nifti-corrupt"), ("short.nii.gz", "nifti-corrupt")]
    assert all("claims" in s.detail for s in skips)


def test_nifti_voxel_limit_is_checked_by_the_reader(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "v.nii").write_bytes(bytes(_nifti_bytes((10, 10, 10))))
    items = list(read_dataset("n", {"type": "nifti", "slice_policy": "all"}, tmp_path, limits=FileLimits(max_pixels=999)))
    assert [(i.reason, "max_pixels=999" in i.detail) for i in items] == [("decompression-bomb", True)]


def test_layout_folder_the_os_refuses_is_a_clear_error(tmp_path):
    (tmp_path / "ds").mkdir()
    with pytest.raises(SourceError, match="cannot read its files|not a folder"):
        list(read_dataset("d", {"type": "class_folders", "root": "ds", "split_dirs": {"train": "x" * 300}}, tmp_path))


def test_table_paths_with_nul_or_overlong_names_are_skips(tmp_path):
    (tmp_path / "t.csv").write_text("image,label\na\x00b.png,X\n" + "y" * 300 + ".png,X\n")
    recs, skips = _split(list(read_dataset("t", {"type": "label_table", "table": "t.csv", "label_column": "label"},
                                           tmp_path)))
    assert not recs and sorted(s.reason for s in skips) == ["missing-file", "path-escapes-root"]
