"""Valid seed files of every format medmat reads, for the mutation fuzzer (``fuzz_run``).

Seeds are made here, deterministically and small (tens of pixels), plus real files that
pydicom and nibabel install with their own tests (compressed DICOM transfer syntaxes,
NIfTI-2, CIFTI). Nothing is downloaded. ``seeds(fmt)`` -> [(file name, bytes)].
"""

from __future__ import annotations

import functools
import gzip
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

SMALL = (20, 14)  # (width, height): big enough for every codec, small enough to be quick


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _rgb(seed: int = 0) -> np.ndarray:
    rng = _rng(seed)
    yy, xx = np.mgrid[0:SMALL[1], 0:SMALL[0]]
    base = np.stack([xx * 12, yy * 17, (xx + yy) * 7], axis=-1) % 256
    return np.clip(base + rng.integers(0, 30, base.shape), 0, 255).astype(np.uint8)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _frames(n: int) -> list[Image.Image]:
    return [Image.fromarray(np.roll(_rgb(i), i, axis=1)) for i in range(n)]


def png_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    deep = Image.fromarray((_rgb()[..., 0].astype(np.uint16) * 257))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray((_rgb(1)[..., 1] // 2 + 100).astype(np.uint8)))
    return [
        ("rgb.png", _save(rgb, "PNG")), ("grey.png", _save(rgb.convert("L"), "PNG")),
        ("pal.png", _save(pal, "PNG", transparency=0)), ("deep16.png", _save(deep, "PNG")),
        ("rgba.png", _save(rgba, "PNG")), ("bits.png", _save(rgb.convert("1"), "PNG")),
        ("la.png", _save(rgb.convert("LA"), "PNG")),
        ("apng.png", _save(_frames(1)[0], "PNG", save_all=True, append_images=_frames(3)[1:], duration=50)),
    ]


def jpeg_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: exercises the EXIF path
    return [
        ("rgb.jpg", _save(rgb, "JPEG", quality=90)), ("grey.jpg", _save(rgb.convert("L"), "JPEG")),
        ("cmyk.jpg", _save(rgb.convert("CMYK"), "JPEG")), ("prog.jpg", _save(rgb, "JPEG", progressive=True)),
        ("exif.jpg", _save(rgb, "JPEG", exif=exif.tobytes())), ("sub444.jpg", _save(rgb, "JPEG", subsampling=0)),
    ]


def tiff_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    deep = Image.fromarray((_rgb()[..., 0].astype(np.uint16) * 200))
    return [
        ("raw.tif", _save(rgb, "TIFF")), ("lzw.tif", _save(rgb, "TIFF", compression="tiff_lzw")),
        ("deep.tif", _save(deep, "TIFF")), ("float.tif", _save(Image.fromarray(_rgb()[..., 0] / 7.0), "TIFF")),
        ("multi.tif", _save(_frames(1)[0], "TIFF", save_all=True, append_images=_frames(3)[1:])),
        ("deflate.tif", _save(rgb.convert("L"), "TIFF", compression="tiff_adobe_deflate")),
        ("packbits.tif", _save(rgb.convert("1"), "TIFF", compression="packbits")),
    ]


def bmp_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    return [
        ("rgb.bmp", _save(rgb, "BMP")), ("pal.bmp", _save(rgb.convert("P"), "BMP")),
        ("bits.bmp", _save(rgb.convert("1"), "BMP")), ("grey.bmp", _save(rgb.convert("L"), "BMP")),
        ("rgba.bmp", _save(rgb.convert("RGBA"), "BMP")),
    ]


def gif_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    return [
        ("one.gif", _save(rgb.convert("P"), "GIF")),
        ("anim.gif", _save(_frames(1)[0], "GIF", save_all=True, append_images=_frames(3)[1:], duration=40, loop=0)),
        ("transp.gif", _save(rgb.convert("P"), "GIF", transparency=3)),
    ]


def webp_seeds() -> list[tuple[str, bytes]]:
    rgb = Image.fromarray(_rgb())
    return [
        ("lossy.webp", _save(rgb, "WEBP", quality=80)), ("lossless.webp", _save(rgb, "WEBP", lossless=True)),
        ("alpha.webp", _save(rgb.convert("RGBA"), "WEBP")),
        ("anim.webp", _save(_frames(1)[0], "WEBP", save_all=True, append_images=_frames(2)[1:], duration=50)),
    ]


# -- DICOM ---------------------------------------------------------------------------------
PYDICOM_SEEDS = (
    "CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_rle_2frame.dcm", "SC_rgb_small_odd.dcm", "image_dfl.dcm", "rtdose.dcm", "JPEGLSNearLossless_08.dcm",
    "693_J2KI.dcm", "SC_ybr_full_422_uncompressed.dcm", "rtstruct.dcm",
)


def dicom_bytes(pixels: np.ndarray | None, photometric: str = "MONOCHROME2", *, slope: float | None = None,
                intercept: float | None = None, window=None, modality: str = "CT", body_part: str | None = "CHEST",
                frames: int | None = None, signed: bool = False, palette: np.ndarray | None = None,
                voi_lut: bool = False) -> bytes:
    """A small Secondary Capture file, explicit VR little endian (also the DICOM fixture of
    tests/test_imaging_medical.py). ``palette``: 256 x 3 entries of 16-bit values."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    if body_part:
        ds.BodyPartExamined = body_part
    if pixels is not None:
        arr = np.asarray(pixels)
        colour = photometric in ("RGB", "YBR_FULL")
        shape = arr.shape[1:] if frames else arr.shape
        ds.Rows, ds.Columns = shape[0], shape[1]
        ds.SamplesPerPixel = 3 if colour else 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = ds.BitsStored = arr.dtype.itemsize * 8
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if signed else 0
        if colour:
            ds.PlanarConfiguration = 0
        if frames:
            ds.NumberOfFrames = frames
        if slope is not None:
            ds.RescaleSlope, ds.RescaleIntercept = slope, intercept or 0
        if window:
            ds.WindowCenter, ds.WindowWidth = window
        if voi_lut:
            item = Dataset()
            item.LUTDescriptor = [256, 0, 16]
            item.LUTData = (np.arange(256, dtype=np.uint16) * 256).tobytes()
            ds.VOILUTSequence = Sequence([item])
        if palette is not None:  # 8-bit palette: 256 entries of 16-bit values
            for name, channel in zip(("Red", "Green", "Blue"), palette.T):
                setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
                setattr(ds, f"{name}PaletteColorLookupTableData", channel.astype("<u2").tobytes())
        ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_seeds() -> list[tuple[str, bytes]]:
    ramp = (np.arange(SMALL[0] * SMALL[1], dtype=np.uint16).reshape(SMALL[1], SMALL[0]) * 37)
    lut = np.arange(256, dtype=np.uint16) * 257
    out = [
        ("mono16.dcm", dicom_bytes(ramp, slope=2, intercept=-1000, window=(40, 400))),
        ("mono1.dcm", dicom_bytes(ramp.astype(np.uint8), "MONOCHROME1")),
        ("rgb.dcm", dicom_bytes(_rgb(), "RGB")), ("multi.dcm", dicom_bytes(np.stack([ramp] * 3), frames=3)),
        ("palette.dcm", dicom_bytes(ramp.astype(np.uint8), "PALETTE COLOR",
                                    palette=np.stack([lut, lut[::-1], np.roll(lut, 64)], axis=1))),
        ("voilut.dcm", dicom_bytes(ramp.astype(np.uint8), voi_lut=True)),
        ("signed.dcm", dicom_bytes(ramp.astype(np.int16) - 300, signed=True)),
        ("nopix.dcm", dicom_bytes(None)),
    ]
    root = _pydicom_files()
    out += [(name, (root / name).read_bytes()) for name in PYDICOM_SEEDS if (root / name).is_file()]
    return out


def _pydicom_files() -> Path:
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"


def _nibabel_files() -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data"


# -- NIfTI ---------------------------------------------------------------------------------
def _nifti(arr: np.ndarray, klass: str = "Nifti1Image", affine: np.ndarray | None = None, gz: bool = False,
           slope: float | None = None) -> bytes:
    import nibabel as nib

    img = getattr(nib, klass)(arr, np.eye(4) if affine is None else affine)
    if slope is not None:
        img.header.set_slope_inter(slope, 10.0)
    data = img.to_bytes()
    return gzip.compress(data, mtime=0) if gz else data


def _vol(shape=(6, 7, 5), dtype=np.int16, seed: int = 0) -> np.ndarray:
    return _rng(seed).integers(0, 900, shape).astype(dtype)


_LPS = np.array([[0, -1, 0, 5], [-1, 0, 0, 6], [0, 0, 1, 0], [0, 0, 0, 1]], float)


def nifti1_seeds() -> list[tuple[str, bytes]]:
    return [
        ("f32.nii", _nifti(_vol(dtype=np.float32))), ("i16.nii", _nifti(_vol(), slope=0.5)),
        ("lps.nii", _nifti(_vol(), affine=_LPS)), ("four.nii", _nifti(_vol((5, 6, 4, 3)))),
        ("flat.nii", _nifti(_vol((8, 9)).astype(np.uint8))), ("u8.nii", _nifti(_vol(dtype=np.uint8))),
        ("anatomical.nii", (_nibabel_files() / "anatomical.nii").read_bytes()),
    ]


def nifti1_gz_seeds() -> list[tuple[str, bytes]]:
    return [
        ("f32.nii.gz", _nifti(_vol(dtype=np.float32), gz=True)), ("four.nii.gz", _nifti(_vol((5, 6, 4, 2)), gz=True)),
        ("lps.nii.gz", _nifti(_vol(), affine=_LPS, gz=True)),
        ("standard.nii.gz", (_nibabel_files() / "standard.nii.gz").read_bytes()),
    ]


def nifti2_seeds() -> list[tuple[str, bytes]]:
    return [
        ("v2.nii", _nifti(_vol(), "Nifti2Image")), ("v2f.nii.gz", _nifti(_vol(dtype=np.float64), "Nifti2Image", gz=True)),
        ("example_nifti2.nii.gz", (_nibabel_files() / "example_nifti2.nii.gz").read_bytes()),
        ("row_major.dconn.nii", (_nibabel_files() / "row_major.dconn.nii").read_bytes()),
    ]


# -- tables, released json, catalog YAML ---------------------------------------------------
TABLE_IMAGES = ("a", "b", "c", "d", "e")  # imgs/<x>.png beside every table case (see fuzz_run)


def table_seeds() -> list[tuple[str, bytes]]:
    single = "file,dx,fold,patient\n" + "".join(
        f"{x},{lab},{split},p{i}\n" for i, (x, lab, split) in enumerate(
            zip(TABLE_IMAGES, ("Normal", "Cyst", "Normal", "Tumor", "Cyst"), ("train", "test", "Training", "val", "train"))))
    onehot = "img\tEffusion\tMass\n" + "".join(f"imgs/{x}.png\t{i % 2}\t{(i + 1) % 2}\n" for i, x in enumerate(TABLE_IMAGES))
    delimited = 'image,labels\n' + "".join(f'imgs/{x}.png,"Mass|Effusion"\n' for x in TABLE_IMAGES)
    return [("single.csv", single.encode()), ("onehot.tsv", onehot.encode()), ("delimited.csv", delimited.encode())]


def medmat_record(i: int, image: str, answer: str = "Cyst", letter: str = "B") -> dict:
    return {
        "id": i, "caption": answer, "image": image, "Question": "What is shown?", "Answer": answer,
        "Question-choice": ("What is shown?\nA: Stone\nB: Cyst\nC: Normal\n"
                            "Answer with the option's letter from the given choices directly."),
        "Answer-choice": letter, "data-no": "2",
    }


def medmat_json_seeds() -> list[tuple[str, bytes]]:
    rows = [medmat_record(i, f"{x}.png", *(("Cyst", "B") if i % 2 else ("Stone", "A")))
            for i, x in enumerate(TABLE_IMAGES)]
    return [("qa.json", json.dumps(rows, indent=1).encode()), ("one.json", json.dumps(rows[:1]).encode())]


def catalog_yaml_seeds() -> list[tuple[str, bytes]]:
    import yaml

    tpl = [f"Which finding does this chest CT show ({i})?" for i in range(6)]
    doc = {
        "vocabulary": {"areas": ["Spleen"]},
        "subsets": [{"id": "u-lung", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
                     "labels": ["covid", "normal"], "templates": tpl}],
        "datasets": [
            {"id": "ds-a", "name": "A", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
             "subset": "u-lung", "labels": ["covid", "normal"], "label_aliases": {"Covid19": "covid"},
             "layout": {"type": "class_folders", "root": "a", "split_dirs": {"train": "tr", "test": "te"}}},
            {"id": "ds-t", "name": "T", "triplet": "CT/Lung/COVID-19 Classification", "subset": "u-lung",
             "labels": ["covid", "normal"],
             "layout": {"type": "label_table", "table": "t.csv", "label_column": "dx", "split_column": "fold"}},
        ],
    }
    return [("user.yaml", yaml.safe_dump(doc, sort_keys=False).encode())]


# Localisation annotations (issue 11): the seeds are the annotation files of the corpora in
# fuzz_localisation, made by fuzz_annotations (imported lazily: it builds on this module).
ANNOTATION_FORMATS = ("coco-json", "voc-xml", "yolo-txt", "box-csv", "rle-csv", "mask-image", "nifti-labels")


def _annotation_seeds(fmt: str):
    def make() -> list[tuple[str, bytes]]:
        from helpers.fuzz_annotations import annotation_seeds

        return annotation_seeds(fmt)

    return make


SEEDS = {
    "png": png_seeds, "jpeg": jpeg_seeds, "tiff": tiff_seeds, "bmp": bmp_seeds, "gif": gif_seeds,
    "webp": webp_seeds, "dicom": dicom_seeds, "nifti1": nifti1_seeds, "nifti1-gz": nifti1_gz_seeds,
    "nifti2": nifti2_seeds, "table": table_seeds, "medmat-json": medmat_json_seeds,
    "catalog-yaml": catalog_yaml_seeds, **{fmt: _annotation_seeds(fmt) for fmt in ANNOTATION_FORMATS},
}


@functools.lru_cache(maxsize=None)
def seeds(fmt: str) -> tuple[tuple[str, bytes], ...]:
    return tuple(SEEDS[fmt]())
