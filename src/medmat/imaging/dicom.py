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
from medmat.imaging.limits import FileLimits, check_decoded

FRAME_POLICIES = ("middle", "first", "all", "mip")
_ENCAPSULATED_ITEM = 8  # every frame of compressed pixel data sits in items of >= 8 bytes


def _first(value: Any) -> float:
    if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)):
        value = value[0]
    return float(value)


class BoundedFile:
    """A binary file whose reads never ask for more than is left in it.

    pydicom reads an element's value with ``read(length)`` from the length field in the
    file; a damaged length of 0xFFFFFFF0 would make Python allocate 4 GB before finding
    the file is short. Here such a read returns what is left, and pydicom reports a
    truncated file. ``BoundedFile(path, 'rb')`` is also how pydicom reopens the file for
    deferred values.
    """

    def __init__(self, path: str, mode: str = "rb"):
        self._fh = open(path, "rb")
        self.name = str(path)
        self._size = os.fstat(self._fh.fileno()).st_size

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self._fh.read()
        return self._fh.read(max(0, min(n, self._size - self._fh.tell())))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed


def _dcmread(path: str, **kwargs):
    import pydicom

    fh = BoundedFile(path)
    try:
        return pydicom.dcmread(fh, **kwargs)
    finally:
        fh.close()


def read_dicom(path: str, *, header_only: bool = False):
    """pydicom Dataset, with read failures turned into ImageError reasons."""
    from pydicom.errors import InvalidDicomError

    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise ImageError("missing-file", f"{type(e).__name__}: {e}") from None
    if size == 0:
        raise ImageError("zero-byte", "empty file")
    kwargs = {"defer_size": "1 KB"} if header_only else {}
    try:
        try:
            return _dcmread(path, **kwargs)
        except InvalidDicomError:
            ds = _dcmread(path, force=True, **kwargs)  # no preamble: accept if it looks like DICOM
            if "SOPClassUID" not in ds and "PixelData" not in ds and "Rows" not in ds:
                raise ImageError("not-an-image", "not a DICOM file") from None
            return ds
    except (ImageError, MemoryError):
        raise
    except (EOFError, OSError) as e:
        raise ImageError("dicom-truncated", f"{type(e).__name__}: {e}") from None
    except Exception as e:  # pydicom raises assorted types on damaged headers
        raise ImageError("corrupt-image", f"unreadable DICOM: {type(e).__name__}: {e}") from None


def n_frames(ds) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except Exception:  # a damaged or non-numeric value: one frame, and decoding will tell
        return 1


def int_tag(ds, name: str, default: int = 0) -> int:
    """An integer attribute of ``ds``; a damaged value is ImageError('corrupt-image')."""
    try:
        value = ds.get(name, default)
        if value is None or value == "":
            return default
        if not isinstance(value, (int, float, str)) and hasattr(value, "__getitem__"):
            value = value[0]
        return int(value)
    except Exception as e:
        raise ImageError("corrupt-image", f"DICOM {name} is not a whole number: {type(e).__name__}: {e}") from None


def str_tag(ds, name: str) -> str:
    """A text attribute of ``ds`` ('' when absent or unreadable: it is only informative)."""
    try:
        return str(ds.get(name, "") or "")
    except Exception:
        return ""


def pixel_geometry(ds) -> tuple[int, int, int, int, int]:
    """(rows, columns, frames, samples per pixel, bits allocated) from the header."""
    rows, cols = int_tag(ds, "Rows"), int_tag(ds, "Columns")
    spp, bits = int_tag(ds, "SamplesPerPixel", 1), int_tag(ds, "BitsAllocated", 8)
    if min(rows, cols, spp, bits) < 0:
        raise ImageError("corrupt-image", f"negative size in the header ({rows}x{cols}, {spp} samples, {bits} bits)")
    return rows, cols, n_frames(ds), spp, bits


_DEFLATED = "1.2.840.10008.1.2.1.99"  # the whole dataset is deflated: pixel data is native but squeezed
_MAX_DEFLATE_RATIO = 1100


def _native(ds) -> bool | None:
    """Whether the pixel data is native (not encapsulated); None when the header cannot say."""
    from pydicom.uid import UID

    try:
        return not UID(str(ds.file_meta.TransferSyntaxUID)).is_compressed
    except Exception:  # no file meta, no transfer syntax, or a UID that is not one
        return None


def check_frames_plausible(ds, file_size: int) -> None:
    """The header's frame count (and, uncompressed, its pixel bytes) must fit in the file.

    A damaged NumberOfFrames of 2**31 would otherwise make frame_policy 'all' expand one
    small file into two billion records before anything is decoded.
    """
    rows, cols, frames, spp, bits = pixel_geometry(ds)
    if rows == 0 or cols == 0:  # no image to decode, however many frames the header counts
        raise ImageError("corrupt-image", f"the header gives the image {rows} rows and {cols} columns")
    native = _native(ds)
    if native:
        need = rows * cols * frames * spp * bits
        if str_tag(ds, "PhotometricInterpretation").upper().endswith("_422"):
            need = need * 2 // 3  # two chroma samples shared by two pixels
        need //= 8
        deflated = str(getattr(ds.file_meta, "TransferSyntaxUID", "")) == _DEFLATED
        room = file_size * (_MAX_DEFLATE_RATIO if deflated else 1)
        if need > room:
            raise ImageError("dicom-truncated", f"the header claims {need:,} bytes of pixel data "
                                                f"({rows}x{cols}, {frames:,} frame(s)), the file has {file_size:,}")
    elif frames > max(1, file_size // (_ENCAPSULATED_ITEM if native is False else 1)):
        raise ImageError("dicom-truncated", f"the header claims {frames:,} frames, the file has {file_size:,} bytes")


def check_dicom_size(ds, limits: FileLimits | None) -> None:
    """Per-file pixel and byte limits against the header (before anything is decoded)."""
    rows, cols, frames, spp, bits = pixel_geometry(ds)
    check_decoded(limits, rows * cols * frames, max(1, spp) * max(1, (bits + 7) // 8),
                  f"DICOM {rows}x{cols}, {frames} frame(s)")


def _pixels(ds) -> np.ndarray:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageError("dicom-no-pixel-data", "the file has no Pixel Data element")
    try:
        return ds.pixel_array
    except MemoryError:
        raise
    except (RuntimeError, NotImplementedError) as e:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        raise ImageError("dicom-unsupported", f"cannot decode {syntax}: {e}") from None
    except Exception as e:
        text = str(e).lower()
        if any(w in text for w in ("length", "truncat", "expected", "end of", "insufficient", "eof")):
            raise ImageError("dicom-truncated", f"{type(e).__name__}: {e}") from None
        raise ImageError("corrupt-image", f"{type(e).__name__}: {e}") from None


def _pick_frame(arr: np.ndarray, ds, frame: int | None, mip: bool) -> np.ndarray:
    frames = n_frames(ds)
    samples = int_tag(ds, "SamplesPerPixel", 1) or 1
    single_ndim = 2 if samples == 1 else 3
    if arr.ndim == single_ndim:
        return arr
    if mip:
        return arr.max(axis=0)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < arr.shape[0]:
        raise ImageError("corrupt-image", f"frame {index} not in 0..{arr.shape[0] - 1}", whole_file=False)
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
    if str_tag(ds, "PhotometricInterpretation").upper() == "MONOCHROME1":
        out = 255 - out
    return out


def _colour(arr: np.ndarray, ds) -> np.ndarray:
    if str_tag(ds, "PhotometricInterpretation").upper() == "PALETTE COLOR":
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
    """The last decoded file, so that 'all' frames of one file decode it once per worker.
    A file that cannot be decoded is remembered as its ImageError, so its other frames fail fast."""
    try:
        ds = read_dicom(path)
        return ds, _pixels(ds)
    except ImageError as e:
        return None, e


def dicom_to_uint8(path: str, frame: int | None = None, *, mip: bool = False,
                   window: Sequence[float] | None = None) -> np.ndarray:
    """The chosen frame (None: middle; ``mip``: maximum projection) as uint8 (H, W) or (H, W, 3)."""
    st = os.stat(path)
    ds, arr = _decoded(path, st.st_size, st.st_mtime_ns)
    if isinstance(arr, ImageError):
        raise ImageError(arr.reason, arr.detail, whole_file=arr.whole_file)
    try:
        photometric = str_tag(ds, "PhotometricInterpretation").upper() or "MONOCHROME2"
        if photometric == "PALETTE COLOR":
            return _colour(_pick_frame(arr, ds, frame, mip), ds)
        img = _pick_frame(arr, ds, frame, mip)
        if img.ndim == 3:
            return _colour(img, ds)
        if img.ndim != 2:
            raise ImageError("corrupt-image", f"decoded pixels of shape {arr.shape} are not an image")
        return _mono(img, ds, window)
    except (ImageError, MemoryError):
        raise
    except Exception as e:  # a LUT, window or rescale value that the header got wrong
        raise ImageError("corrupt-image", f"cannot convert the pixels: {type(e).__name__}: {e}") from None
