"""NIfTI volume -> one 8-bit slice, always in the same anatomical orientation.

Volumes are first reoriented to the closest canonical (RAS+) orientation, so "axial slice
k" means the same thing for every file whatever its affine. The 2-D slice is then laid
out in neurological convention: rows run anterior->posterior (axial) or
superior->inferior (coronal, sagittal), columns run left->right (axial, coronal) or
posterior->anterior (sagittal).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Sequence

import numpy as np

from medmat.imaging.convert import ImageError, range_to_uint8, window_to_uint8
from medmat.imaging.limits import FileLimits, check_decoded

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
SLICE_POLICIES = ("middle", "all", "max-area", "index:N")


def axis_index(axis: str | int) -> int:
    if isinstance(axis, int) or str(axis).isdigit():
        value = int(axis)
        if value not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1, 2 or one of {list(AXES)}, got {axis!r}")
        return value
    try:
        return AXES[str(axis).lower()]
    except KeyError:
        raise ValueError(f"axis must be one of {list(AXES)} or 0/1/2, got {axis!r}") from None


# Deflate cannot shrink data more than ~1032:1, so a .nii.gz whose header claims more voxel
# bytes than this many times its size is damaged (and would otherwise be believed).
_MAX_GZIP_RATIO = 1100
_NOT_VOLUMES = {  # what nibabel may open from a .nii that is not a volume, and what it is
    "Cifti2Image": "a CIFTI-2 file (a matrix over brain surface and volume points, not a volume)",
    "GiftiImage": "a GIFTI surface file, not a volume",
}


def _sniff_gifti(path: str) -> bool:
    """GIFTI is XML; a .nii-named GIFTI would otherwise be reported as a corrupt NIfTI."""
    import gzip

    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(512)
    except Exception:  # OSError, EOFError, zlib.error ...: damaged; nib.load will say how
        return False
    return head.lstrip().startswith(b"<?xml") and b"GIFTI" in head.upper()


def load_header(path: str):
    """The NIfTI-1/2 image (voxels not read) of ``path``, or ImageError saying why not.

    Besides damaged files this refuses containers that are not 2-D to 4-D scalar volumes:
    CIFTI and GIFTI ('not-a-volume'), zero or negative dimensions ('empty-volume'),
    more than four dimensions, complex or RGB voxels ('nifti-unsupported'); and a header
    that claims more voxel bytes than the file can hold ('nifti-corrupt').
    """
    import nibabel as nib

    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ImageError("missing-file", f"{type(e).__name__}: {e}") from None
    if size == 0:
        raise ImageError("zero-byte", "empty file")
    if _sniff_gifti(path):
        raise ImageError("not-a-volume", _NOT_VOLUMES["GiftiImage"])
    try:
        img = nib.load(path)
        shape = tuple(int(n) for n in img.shape)
    except (ImageError, MemoryError):
        raise
    except Exception as e:
        raise ImageError("nifti-corrupt", f"{type(e).__name__}: {e}") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        name = type(img).__name__
        raise ImageError("not-a-volume", _NOT_VOLUMES.get(name, f"nibabel opens it as {name}, not a NIfTI volume"))
    _check_shape(shape)
    _check_dtype(img)
    _check_bytes(img, shape, size, compressed=path.lower().endswith(".gz"))
    return img


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) < 2:
        raise ImageError("not-a-volume", f"{len(shape)}-D data of shape {shape}, not an image or volume")
    if any(n < 0 for n in shape):
        raise ImageError("nifti-corrupt", f"dimensions {shape} include negative sizes")
    if any(n == 0 for n in shape):
        raise ImageError("empty-volume", f"dimensions {shape} include a size of zero: no voxels")
    if len(shape) > 4 and any(n > 1 for n in shape[4:]):
        raise ImageError("nifti-unsupported", f"{len(shape)}-D data of shape {shape}; medmat reads 2-D to 4-D volumes")


def _check_dtype(img) -> None:
    try:
        dtype = img.get_data_dtype()
    except Exception as e:
        raise ImageError("nifti-corrupt", f"unknown voxel type: {type(e).__name__}: {e}") from None
    if dtype.fields or dtype.kind == "V":
        raise ImageError("nifti-unsupported", f"RGB/structured voxels ({dtype}); medmat reads scalar volumes")
    if dtype.kind == "c":
        raise ImageError("nifti-unsupported", f"complex-valued voxels ({dtype}); medmat reads real volumes")
    if dtype.kind not in "biuf":
        raise ImageError("nifti-unsupported", f"voxel type {dtype} is not numeric")


def _check_bytes(img, shape: tuple[int, ...], file_size: int, *, compressed: bool) -> None:
    itemsize = img.get_data_dtype().itemsize
    voxel_bytes = itemsize
    for n in shape:
        voxel_bytes *= n
    try:
        offset = max(0, int(img.header.get_data_offset()))
    except Exception:
        offset = 0
    room = file_size * _MAX_GZIP_RATIO if compressed else file_size - offset
    if voxel_bytes > room or (compressed and not _gzip_holds(img.get_filename(), offset + voxel_bytes)):
        have = "" if not compressed else " (compressed)"
        raise ImageError("nifti-corrupt", f"the header claims {voxel_bytes:,} bytes of voxels ({shape}, "
                                          f"{img.get_data_dtype()}) at offset {offset}; the file{have} has "
                                          f"{file_size:,}" + ("" if voxel_bytes > room else " and ends before them"))


def _gzip_holds(path: str | None, need: int) -> bool:
    """Whether the gzip file decompresses to at least ``need`` bytes. The size in its trailer
    (mod 2**32, of the last member) answers for nearly every file at no cost; only when it
    is smaller is the stream read, up to ``need`` bytes, to be sure."""
    import gzip

    if not path:
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            if int.from_bytes(fh.read(4), "little") >= need:
                return True
        total = 0
        with gzip.open(path, "rb") as g:
            while total < need:
                chunk = g.read(min(1 << 22, need - total))
                if not chunk:
                    return False
                total += len(chunk)
        return True
    except Exception:  # a broken stream before ``need`` bytes: the voxels are not there
        return False


def check_volume_size(img, limits: FileLimits | None) -> None:
    """Per-file pixel and byte limits for the one 3-D volume medmat decodes (first of a 4-D)."""
    shape = tuple(int(n) for n in img.shape[:3])
    voxels = 1
    for n in shape:
        voxels *= n
    check_decoded(limits, voxels, img.get_data_dtype().itemsize + 8, f"NIfTI volume {shape}")


def _orientation(img):
    import nibabel as nib

    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine).all():
        raise ImageError("nifti-corrupt", "the header's affine has non-finite values")
    try:
        ornt = nib.orientations.io_orientation(affine)
    except Exception as e:
        raise ImageError("nifti-corrupt", f"the header's affine has no orientation: {type(e).__name__}: {e}") from None
    if not np.isfinite(ornt).all():  # a zero (or degenerate) column: that axis points nowhere
        lost = [i for i, row in enumerate(ornt) if not np.isfinite(row).all()]
        raise ImageError("nifti-corrupt", f"the header's affine gives voxel axis {lost} no direction "
                                          "(zero voxel size or a degenerate qform/sform)")
    return ornt


def canonical_shape(img) -> tuple[int, int, int]:
    """Spatial shape after reorientation to RAS+, computed from the header without loading data."""
    shape = tuple(img.shape[:3]) + (1,) * (3 - len(img.shape[:3]))
    out = [0, 0, 0]
    for i, (j, _) in enumerate(_orientation(img)):
        out[int(j)] = shape[i]
    return out[0], out[1], out[2]


def canonical_volume(img, path: str = "") -> np.ndarray:
    """The first 3-D volume of ``img`` reoriented to RAS+, as float64 (other volumes are not read)."""
    import nibabel as nib

    ornt = _orientation(img)
    ndim = len(img.shape)
    try:
        index = (slice(None),) * min(ndim, 3) + (0,) * max(0, ndim - 3)
        data = np.asarray(img.dataobj[index])
    except MemoryError:
        raise
    except Exception as e:
        raise ImageError("nifti-corrupt", f"cannot read voxel data: {type(e).__name__}: {e}") from None
    if data.ndim == 2:
        data = data[:, :, None]
    data = np.asarray(data, dtype=np.float64)
    try:
        return nib.orientations.apply_orientation(data, ornt)
    except nib.orientations.OrientationError as e:
        raise ImageError("nifti-corrupt", f"cannot reorient the voxels: {e}") from None


def slice_2d(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` along ``axis`` of a RAS+ volume, in display orientation (see module doc)."""
    if not 0 <= index < volume.shape[axis]:
        raise ImageError("nifti-corrupt", f"slice {index} not in 0..{volume.shape[axis] - 1} on axis {axis}",
                         whole_file=False)
    plane = np.take(volume, index, axis=axis)  # (first remaining axis, second remaining axis)
    return np.flipud(plane.T)


@lru_cache(maxsize=1)
def _volume(path: str, size: int, mtime_ns: int, p_lo: float, p_hi: float):
    """The last volume read (+ its percentiles), so that 'all' slices decode it once per worker.
    A file that cannot be read is remembered as its ImageError, so its other slices fail fast."""
    try:
        vol = canonical_volume(load_header(path), path)
    except ImageError as e:
        return e, 0.0, 0.0
    finite = vol[np.isfinite(vol)]
    lo, hi = (np.percentile(finite, [p_lo, p_hi]) if finite.size else (0.0, 0.0))
    return vol, float(lo), float(hi)


def nifti_to_uint8(path: str, axis: int, index: int, *, window: Sequence[float] | None = None,
                   percentiles: Sequence[float] = (0.5, 99.5)) -> np.ndarray:
    """Slice ``index`` along ``axis`` as uint8: CT window if given, else volume percentiles."""
    st = os.stat(path)
    vol, lo, hi = _volume(path, st.st_size, st.st_mtime_ns, float(percentiles[0]), float(percentiles[1]))
    if isinstance(vol, ImageError):
        raise ImageError(vol.reason, vol.detail, whole_file=vol.whole_file)
    plane = slice_2d(vol, axis, index)
    if window:
        return window_to_uint8(plane, float(window[0]), float(window[1]))
    return range_to_uint8(plane, lo, hi)


def mask_areas(path: str, axis: int, limits: FileLimits | None = None) -> np.ndarray:
    """Foreground voxel count of each slice of a (canonicalised) mask along ``axis``."""
    img = load_header(path)
    check_volume_size(img, limits)
    vol = canonical_volume(img, path)
    other = tuple(a for a in range(3) if a != axis)
    return (vol > 0).sum(axis=other)


@lru_cache(maxsize=1)
def _label_volume(path: str, size: int, mtime_ns: int, max_pixels: int | None, max_bytes: int | None):
    """The last label volume read (RAS+, integers), so 'all' slices decode it once per worker;
    a file that cannot be used is remembered as its ImageError."""
    from medmat.imaging.limits import FileLimits

    try:
        img = load_header(path)
        check_volume_size(img, FileLimits(max_pixels=max_pixels, max_decoded_bytes=max_bytes))
        vol = canonical_volume(img, path)
    except ImageError as e:
        return ImageError(e.reason, f"label volume: {e.detail}", whole_file=False)
    if not np.isfinite(vol).all() or (vol != np.round(vol)).any() or (vol < 0).any():
        return ImageError("bad-mask-value", "the label volume holds values that are not whole numbers >= 0",
                          whole_file=False)
    return vol.astype(np.int64)


def label_slice(path: str, axis: int, index: int, limits: FileLimits | None = None) -> np.ndarray:
    """Slice ``index`` along ``axis`` of a label volume, laid out like ``nifti_to_uint8``'s slice."""
    st = os.stat(path)
    vol = _label_volume(path, st.st_size, st.st_mtime_ns, limits.max_pixels if limits else None,
                        limits.max_decoded_bytes if limits else None)
    if isinstance(vol, ImageError):
        raise ImageError(vol.reason, vol.detail, whole_file=False)
    return slice_2d(vol, axis, index)
