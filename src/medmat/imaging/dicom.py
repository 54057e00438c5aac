"""DICOM -> 8-bit pixels, the way a radiology viewer would first display the image.

Order matters and follows the standard: modality LUT (rescale slope/intercept) gives
physical values (e.g. Hounsfield units); the VOI stage (explicit layout window, else the
file's VOI LUT or window, else min-max) picks what is visible; MONOCHROME1 is inverted
last so that bone stays white on every file. Colour data (RGB, YBR decoded to RGB by
pydicom, PALETTE COLOR through its LUT) is only brought to 8 bits.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from medmat.imaging.convert import ImageError, minmax_to_uint8, window_to_uint8

FRAME_POLICIES = ("middle", "first", "all", "mip")


def _first(value: Any) -> float:
    if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)):
        value = value[0]
    return float(value)


def read_dicom(path: str, *, header_only: bool = False):
    """pydicom Dataset, with read failures turned into ImageError reasons."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if os.path.getsize(path) == 0:
        raise ImageError("zero-byte", "empty file")
    kwargs = {"defer_size": "1 KB"} if header_only else {}
    try:
        try:
            return pydicom.dcmread(path, **kwargs)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, force=True, **kwargs)  # no preamble: accept if it looks like DICOM
            if "SOPClassUID" not in ds and "PixelData" not in ds and "Rows" not in ds:
                raise ImageError("not-an-image", "not a DICOM file") from None
            return ds
    except ImageError:
        raise
    except (EOFError, OSError) as e:
        raise ImageError("dicom-truncated", f"{type(e).__name__}: {e}") from None
    except Exception as e:  # pydicom raises assorted types on damaged headers
        raise ImageError("corrupt-image", f"unreadable DICOM: {type(e).__name__}: {e}") from None


def n_frames(ds) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _pixels(ds) -> np.ndarray:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageError("dicom-no-pixel-data", "the file has no Pixel Data element")
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError) as e:
        raise ImageError("dicom-unsupported", f"cannot decode {ds.file_meta.get('TransferSyntaxUID', '?')}: {e}") from None
    except Exception as e:
        text = str(e).lower()
        if any(w in text for w in ("length", "truncat", "expected", "end of", "insufficient", "eof")):
            raise ImageError("dicom-truncated", f"{type(e).__name__}: {e}") from None
        raise ImageError("corrupt-image", f"{type(e).__name__}: {e}") from None


def _pick_frame(arr: np.ndarray, ds, frame: int | None, mip: bool) -> np.ndarray:
    frames = n_frames(ds)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    single_ndim = 2 if samples == 1 else 3
    if arr.ndim == single_ndim:
        return arr
    if mip:
        return arr.max(axis=0)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < arr.shape[0]:
        raise ImageError("corrupt-image", f"frame {index} not in 0..{arr.shape[0] - 1}")
    return arr[index]


def _mono(arr: np.ndarray, ds, window: Sequence[float] | None) -> np.ndarray:
    from pydicom.pixels import apply_modality_lut, apply_voi

    x = apply_modality_lut(arr, ds).astype(np.float64)
    if window:
        out = window_to_uint8(x, float(window[0]), float(window[1]))
    elif "VOILUTSequence" in ds:
        out = minmax_to_uint8(apply_voi(x, ds))
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        out = window_to_uint8(x, _first(ds.WindowCenter), _first(ds.WindowWidth))
    else:
        out = minmax_to_uint8(x)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 255 - out
    return out


def _colour(arr: np.ndarray, ds) -> np.ndarray:
    if str(ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
        if arr.dtype.itemsize > 1:  # 16-bit palette entries
            return np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8)
        return arr.astype(np.uint8)
    if arr.dtype == np.uint8:
        return arr
    bits = int(ds.get("BitsStored", 8) or 8)
    return np.rint(np.clip(arr.astype(np.float64), 0, 2**bits - 1) * (255.0 / (2**bits - 1))).astype(np.uint8)


@lru_cache(maxsize=1)
def _decoded(path: str, size: int, mtime_ns: int):
    """The last decoded file, so that 'all' frames of one file decode it once per worker."""
    ds = read_dicom(path)
    return ds, _pixels(ds)


def dicom_to_uint8(path: str, frame: int | None = None, *, mip: bool = False,
                   window: Sequence[float] | None = None) -> np.ndarray:
    """The chosen frame (None: middle; ``mip``: maximum projection) as uint8 (H, W) or (H, W, 3)."""
    st = os.stat(path)
    ds, arr = _decoded(path, st.st_size, st.st_mtime_ns)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        return _colour(_pick_frame(arr, ds, frame, mip), ds)
    img = _pick_frame(arr, ds, frame, mip)
    if img.ndim == 3:
        return _colour(img, ds)
    return _mono(img, ds, window)
