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


def load_header(path: str):
    """nibabel image (lazy data) with load failures mapped to 'nifti-corrupt'."""
    import nibabel as nib

    if os.path.getsize(path) == 0:
        raise ImageError("zero-byte", "empty file")
    try:
        img = nib.load(path)
        if len(img.shape) < 3 and len(img.shape) != 2:
            raise ImageError("nifti-corrupt", f"unsupported shape {img.shape}")
        return img
    except ImageError:
        raise
    except Exception as e:
        raise ImageError("nifti-corrupt", f"{type(e).__name__}: {e}") from None


def canonical_shape(img) -> tuple[int, int, int]:
    """Spatial shape after reorientation to RAS+, computed from the header without loading data."""
    import nibabel as nib

    shape = tuple(img.shape[:3]) + (1,) * (3 - len(img.shape[:3]))
    ornt = nib.orientations.io_orientation(img.affine)
    out = [0, 0, 0]
    for i, (j, _) in enumerate(ornt):
        out[int(j)] = shape[i]
    return out[0], out[1], out[2]


def canonical_volume(img, path: str = "") -> np.ndarray:
    """The first 3-D volume of ``img`` reoriented to RAS+, as float64."""
    import nibabel as nib

    try:
        data = np.asanyarray(nib.as_closest_canonical(img).dataobj)
    except Exception as e:
        raise ImageError("nifti-corrupt", f"cannot read voxel data: {type(e).__name__}: {e}") from None
    if data.ndim == 2:
        data = data[:, :, None]
    while data.ndim > 3:  # 4-D (time/channel) -> first volume
        data = data[..., 0]
    return np.asarray(data, dtype=np.float64)


def slice_2d(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` along ``axis`` of a RAS+ volume, in display orientation (see module doc)."""
    if not 0 <= index < volume.shape[axis]:
        raise ImageError("nifti-corrupt", f"slice {index} not in 0..{volume.shape[axis] - 1} on axis {axis}")
    plane = np.take(volume, index, axis=axis)  # (first remaining axis, second remaining axis)
    return np.flipud(plane.T)


@lru_cache(maxsize=1)
def _volume(path: str, size: int, mtime_ns: int, p_lo: float, p_hi: float):
    """The last volume read (+ its percentiles), so that 'all' slices decode it once per worker."""
    vol = canonical_volume(load_header(path), path)
    finite = vol[np.isfinite(vol)]
    lo, hi = (np.percentile(finite, [p_lo, p_hi]) if finite.size else (0.0, 0.0))
    return vol, float(lo), float(hi)


def nifti_to_uint8(path: str, axis: int, index: int, *, window: Sequence[float] | None = None,
                   percentiles: Sequence[float] = (0.5, 99.5)) -> np.ndarray:
    """Slice ``index`` along ``axis`` as uint8: CT window if given, else volume percentiles."""
    st = os.stat(path)
    vol, lo, hi = _volume(path, st.st_size, st.st_mtime_ns, float(percentiles[0]), float(percentiles[1]))
    plane = slice_2d(vol, axis, index)
    if window:
        return window_to_uint8(plane, float(window[0]), float(window[1]))
    return range_to_uint8(plane, lo, hi)


def mask_areas(path: str, axis: int) -> np.ndarray:
    """Foreground voxel count of each slice of a (canonicalised) mask along ``axis``."""
    vol = canonical_volume(load_header(path), path)
    other = tuple(a for a in range(3) if a != axis)
    return (vol > 0).sum(axis=other)
