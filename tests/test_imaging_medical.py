"""DICOM and NIfTI: readers (headers, frames, slices, MAT hints) and pixel conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.fuzz_seeds import dicom_bytes
from medmat.imaging import materialize
from medmat.imaging.dicom import dicom_to_uint8
from medmat.records import LabeledRecord, Skip
from medmat.sources import SourceError, read_dataset
from medmat.sources.dicom import mat_hint


def _split(items):
    recs = [i for i in items if isinstance(i, LabeledRecord)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(recs) + len(skips) == len(items)
    return recs, skips


# -- DICOM fixtures -------------------------------------------------------------------------

def write_dicom(path: Path, pixels: np.ndarray | None, photometric: str = "MONOCHROME2", **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(pixels, photometric, **options))


def _ramp(h=8, w=8, hi=1000) -> np.ndarray:
    return np.linspace(0, hi, h * w).reshape(h, w).astype(np.uint16)


def test_dicom_monochrome_rescale_window_and_inversion(tmp_path):
    ramp = _ramp()
    write_dicom(tmp_path / "m2.dcm", ramp, slope=2.0, intercept=-1000.0, window=(0, 400))
    write_dicom(tmp_path / "m1.dcm", ramp, "MONOCHROME1", slope=2.0, intercept=-1000.0, window=(0, 400))
    write_dicom(tmp_path / "plain.dcm", ramp)
    m2 = dicom_to_uint8(str(tmp_path / "m2.dcm"))
    hu = ramp.astype(float) * 2 - 1000  # modality LUT applied first
    assert np.array_equal(m2 == 0, hu <= -200.5) and np.array_equal(m2 == 255, hu > 199.5)
    assert np.array_equal(dicom_to_uint8(str(tmp_path / "m1.dcm")), 255 - m2)  # MONOCHROME1 inverted
    explicit = dicom_to_uint8(str(tmp_path / "m2.dcm"), window=(-500, 1000))  # layout window wins
    assert not np.array_equal(explicit, m2) and explicit[0, 0] == 0
    plain = dicom_to_uint8(str(tmp_path / "plain.dcm"))  # no window: min-max
    assert plain.min() == 0 and plain.max() == 255


def test_dicom_colour_multiframe_palette(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[2:, :, 2] = 90
    write_dicom(tmp_path / "rgb.dcm", rgb, "RGB", modality="XC", body_part=None)
    assert np.array_equal(dicom_to_uint8(str(tmp_path / "rgb.dcm")), rgb)
    from pydicom.pixels import convert_color_space

    write_dicom(tmp_path / "ybr.dcm", convert_color_space(rgb, "RGB", "YBR_FULL"), "YBR_FULL")
    assert np.abs(dicom_to_uint8(str(tmp_path / "ybr.dcm")).astype(int) - rgb).max() <= 2  # back to RGB

    stack = np.stack([np.full((4, 4), v, np.uint16) for v in (10, 20, 30)])
    stack[0, 0, 0], stack[2, 3, 3] = 500, 900
    write_dicom(tmp_path / "multi.dcm", stack, frames=3)
    mid = dicom_to_uint8(str(tmp_path / "multi.dcm"))
    assert mid.max() == 0  # the constant middle frame
    mip = dicom_to_uint8(str(tmp_path / "multi.dcm"), mip=True)
    assert mip[3, 3] == 255 and mip[0, 0] > 0 and mip[1, 1] == 0

    pal = np.zeros((256, 3), np.uint16)
    pal[1] = (65535, 0, 0)
    pal[2] = (0, 0, 65535)
    write_dicom(tmp_path / "pal.dcm", np.array([[0, 1], [2, 1]], np.uint8), "PALETTE COLOR", palette=pal)
    out = dicom_to_uint8(str(tmp_path / "pal.dcm"))
    assert out[0, 1].tolist() == [255, 0, 0] and out[1, 0].tolist() == [0, 0, 255] and out[0, 0].tolist() == [0, 0, 0]


def hints_ok(recs) -> bool:
    return any(r.image.endswith("1.2.840.99.5") and r.meta["mat_hint"]["modality"] == "Ultrasound" for r in recs)


def test_dicom_reader_frames_hints_and_skips(tmp_path):
    root = tmp_path / "raw"
    write_dicom(root / "train" / "Normal" / "a.dcm", _ramp())
    write_dicom(root / "train" / "Normal" / "IMG0001", _ramp(), modality="MR", body_part="HEAD")  # no extension
    write_dicom(root / "train" / "Normal" / "1.2.840.99.5", _ramp(), modality="US", body_part=None)  # UID name
    (root / "train" / "Normal" / "README.txt").write_text("scanner notes")
    write_dicom(root / "train" / "Pneumonia" / "multi.dcm", np.stack([_ramp()] * 3), frames=3, modality="CR")
    write_dicom(root / "test" / "Normal" / "nopix.dcm", None)
    write_dicom(root / "test" / "Normal" / "full.dcm", _ramp(64, 64))
    data = (root / "test" / "Normal" / "full.dcm").read_bytes()
    (root / "test" / "Normal" / "trunc.dcm").write_bytes(data[: len(data) - 3000])
    (root / "test" / "Normal" / "junk.dcm").write_bytes(b"hello, not dicom")
    layout = {"type": "dicom", "label_from": "folder", "frame_policy": "all"}
    recs, skips = _split(list(read_dataset("dc", layout, root)))
    # trunc.dcm: its header claims more pixel bytes than the file holds, known before decoding
    assert sorted((Path(s.path).name, s.reason) for s in skips) == [
        ("README.txt", "not-an-image"), ("junk.dcm", "not-an-image"), ("nopix.dcm", "dicom-no-pixel-data"),
        ("trunc.dcm", "dicom-truncated")]
    assert hints_ok(recs)
    frames = [r for r in recs if r.image.endswith("multi.dcm")]
    assert [r.meta["frame"] for r in frames] == [0, 1, 2] and len({r.id for r in frames}) == 3
    hints = {Path(r.image).name: r.meta["mat_hint"] for r in recs}
    assert hints["a.dcm"] == {"modality": "CT", "area": "Chest"}
    assert hints["IMG0001"] == {"modality": "MRI", "area": "Brain"}
    assert hints["multi.dcm"]["modality"] == "X-ray"
    out, mskips = materialize(recs, root, tmp_path / "store")
    assert len(out) == len(recs) and not mskips
    assert all(Image.open(tmp_path / "store" / r.image).mode == "L" for r in out)
    mip, _ = _split(list(read_dataset("dc", {**layout, "frame_policy": "mip"}, root)))
    assert [r.meta["frame_policy"] for r in mip if r.image.endswith("multi.dcm")] == ["mip"]
    first, _ = _split(list(read_dataset("dc", {**layout, "frame_policy": "first"}, root)))
    assert [r.meta["frame"] for r in first if r.image.endswith("multi.dcm")] == [0]
    with pytest.raises(SourceError, match="frame_policy"):
        list(read_dataset("dc", {**layout, "frame_policy": "last"}, root))


def test_mat_hint_vocabulary():
    assert mat_hint("DX", "KNEE") == {"modality": "X-ray", "area": "Bones"}
    assert mat_hint("US", None) == {"modality": "Ultrasound", "area": None}
    assert mat_hint("OP", "EYE") == {"modality": "Fundus Photography", "area": None}
    assert mat_hint("ZZ", "ABDOMEN") == {"modality": None, "area": "Abdomen"}


def test_compressed_dicom_from_pydicom_testdata(tmp_path):
    from pydicom.data import get_testdata_file

    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm", download=False)
    if path is None:
        pytest.skip("pydicom test file not installed")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "jpeg.dcm").write_bytes(Path(path).read_bytes())
    recs, _ = _split(list(read_dataset("j", {"type": "dicom"}, tmp_path)))
    out, skips = materialize(recs, tmp_path, tmp_path / "s")
    assert not skips and Image.open(tmp_path / "s" / out[0].image).mode == "RGB"
    assert out[0].meta["dicom"]["transfer_syntax"] == "1.2.840.10008.1.2.4.50"


# -- NIfTI ----------------------------------------------------------------------------------

def _marker_volume(shape=(6, 8, 10)):
    vol = np.zeros(shape, np.float32)
    vol[1, 6, 7] = 100.0  # marker in canonical (RAS) voxel space
    vol[..., 0] = 1.0
    return vol


def _non_canonical(vol: np.ndarray):
    """The same anatomy stored as LPS-ish + axes swapped: x flipped, y flipped, axes (y, x, z)."""
    import nibabel as nib

    data = np.transpose(vol[::-1, ::-1, :], (1, 0, 2))
    nx, ny, _ = vol.shape
    affine = np.array([[0, -1, 0, nx - 1], [-1, 0, 0, ny - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    return nib.Nifti1Image(data, affine)


def test_nifti_orientation_marker(tmp_path):
    import nibabel as nib

    vol = _marker_volume()
    root = tmp_path / "raw"
    (root / "Tumor").mkdir(parents=True)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), root / "Tumor" / "ras.nii.gz")
    nib.save(_non_canonical(vol), root / "Tumor" / "lps.nii")
    four_d = np.stack([vol, np.zeros_like(vol)], axis=-1)
    nib.save(nib.Nifti1Image(four_d, np.eye(4)), root / "Tumor" / "four.nii.gz")
    layout = {"type": "nifti", "slice_policy": "index:7", "axis": "axial", "window": [50, 100]}
    recs, skips = _split(list(read_dataset("n", layout, root)))
    assert not skips and len(recs) == 3
    out, _ = materialize(recs, root, tmp_path / "store")
    arrays = [np.asarray(Image.open(tmp_path / "store" / r.image)) for r in out]
    # axial slice z=7, shape (rows=y reversed, cols=x): marker (x=1, y=6) -> row 8-1-6=1, col 1
    for arr in arrays:
        assert arr.shape == (8, 6) and arr[1, 1] == 255 and (arr > 0).sum() == 1
    assert len({r.image for r in out}) == 1  # same anatomy -> same bytes, whatever the affine
    coronal = {**layout, "axis": "coronal", "slice_policy": "index:6"}
    recs, _ = _split(list(read_dataset("n", coronal, root)))
    out, _ = materialize(recs[:1], root, tmp_path / "store")
    arr = np.asarray(Image.open(tmp_path / "store" / out[0].image))
    assert arr.shape == (10, 6) and arr[10 - 1 - 7, 1] == 255


def test_nifti_slice_policies_and_skips(tmp_path):
    import nibabel as nib

    root = tmp_path / "raw"
    (root / "A").mkdir(parents=True)
    vol = np.random.default_rng(0).normal(size=(4, 4, 5)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), root / "A" / "v.nii.gz")
    mask = np.zeros((4, 4, 5), np.uint8)
    mask[:, :, 3] = 1
    mask[0, 0, 1] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), root / "A" / "v_mask.nii.gz")
    (root / "A" / "bad.nii.gz").write_bytes(b"\x1f\x8b garbage")
    (root / "A" / "empty.nii").write_bytes(b"")
    recs, skips = _split(list(read_dataset("n", {"type": "nifti", "slice_policy": "all"}, root)))
    assert sorted(s.reason for s in skips) == ["nifti-corrupt", "zero-byte"]
    v = [r for r in recs if r.image.endswith("/v.nii.gz")]
    assert [r.meta["slice"] for r in v] == [0, 1, 2, 3, 4]
    recs, _ = _split(list(read_dataset("n", {"type": "nifti", "slice_policy": "max-area", "mask_suffix": "_mask.nii.gz"}, root)))
    assert [(Path(r.image).name, r.meta["slice"]) for r in recs] == [("v.nii.gz", 3)]
    recs, _ = _split(list(read_dataset("n", {"type": "nifti"}, root)))
    assert {r.meta["slice"] for r in recs if r.image.endswith("v.nii.gz")} == {2}
    out, _ = materialize([r for r in recs if r.image.endswith("v.nii.gz")], root, tmp_path / "s")
    arr = np.asarray(Image.open(tmp_path / "s" / out[0].image))
    assert arr.min() == 0 and arr.max() >= 200  # percentile-normalised
    with pytest.raises(SourceError, match="slice_policy"):
        list(read_dataset("n", {"type": "nifti", "slice_policy": "index:x"}, root))


def test_dicom_labels_from_table_without_extension(tmp_path):
    write_dicom(tmp_path / "scans" / "0001", _ramp(), modality="DX", body_part="KNEE")
    write_dicom(tmp_path / "scans" / "0002", None)
    (tmp_path / "labels.tsv").write_text("file\tgrade\tsplit\n0001\tKL2\ttrain\n0002\tKL0\ttest\n")
    layout = {"type": "dicom", "label_from": "table", "table": "labels.tsv", "image_column": "file",
              "label_column": "grade", "split_column": "split", "image_dir": "scans"}
    recs, skips = _split(list(read_dataset("knee", layout, tmp_path, labels=["KL0", "KL2"])))
    assert [(r.image, r.labels, r.split) for r in recs] == [("scans/0001", ("KL2",), "train")]
    assert [s.reason for s in skips] == ["dicom-no-pixel-data"]
    assert recs[0].meta["mat_hint"] == {"modality": "X-ray", "area": "Bones"}
    plain = [LabeledRecord(id="k", dataset="knee", image="scans/0001", labels=("KL2",))]  # no reader meta
    out, mskips = materialize(plain, tmp_path, tmp_path / "s")
    assert not mskips and np.array_equal(np.asarray(Image.open(tmp_path / "s" / out[0].image)),
                                         dicom_to_uint8(str(tmp_path / "scans" / "0001")))
