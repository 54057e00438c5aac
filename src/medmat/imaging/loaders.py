"""Loaders: one source file (+ the record's loader parameters) -> an 8-bit PIL image.

A registry keyed by ``record.meta['source_format']`` ('raster', 'dicom', 'nifti'); a record
without it is sniffed by extension. Each loader also says whether the original bytes may be
kept as they are (an 8-bit PNG/JPEG that needs no change). Every loader reads the header
first and checks the per-file pixel and byte limits (``FileLimits``) before it decodes.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image, UnidentifiedImageError

from medmat.registry import Registry
from medmat.imaging.convert import ImageError, array_to_image, target_size, to_8bit
from medmat.imaging.limits import DEFAULT_MAX_PIXELS, MB, MEMORY_REASON, FileLimits, check_decoded

__all__ = ["DEFAULT_MAX_PIXELS", "LOADERS", "Loaded", "sniff_format"]


@dataclass
class Loaded:
    image: Image.Image  # mode 'L' or 'RGB'
    source_format: str  # 'PNG', 'JPEG', 'DICOM', 'NIFTI', ...
    raw: bytes | None = None  # the original file bytes when they may be kept byte-for-byte
    source_size: tuple[int, int] | None = None  # (w, h) of the raw grid annotations refer to; None: image.size
    orientation: int = 1  # the EXIF orientation applied to reach ``image`` (1: none)


_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"GIF8", b"RIFF")

LOADERS: Registry[Callable[..., Loaded]] = Registry("image loader")


@contextmanager
def _pil_limit(max_pixels: int | None):
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _pil_bytes_per_pixel(mode: str) -> int:
    """Bytes PIL keeps per pixel of ``mode`` (multi-band and 32-bit modes take 4)."""
    if mode.startswith("I;16"):
        return 2
    return 1 if mode in ("1", "L", "P") else 4


def _read_file(path: str, limits: FileLimits | None) -> bytes:
    size = os.path.getsize(path)
    if limits is not None and limits.max_decoded_bytes is not None and size > limits.max_decoded_bytes:
        raise ImageError(MEMORY_REASON, f"file of {size / MB:,.1f} MB is larger than "
                                        f"max_decoded_mb={limits.max_decoded_bytes // MB}")
    with open(path, "rb") as fh:
        return fh.read()


def sniff_format(path: str) -> str:
    low = path.lower()
    if low.endswith((".nii", ".nii.gz")):
        return "nifti"
    if low.endswith((".dcm", ".dicom", ".dic")):
        return "dicom"
    return "raster"


@LOADERS.register("raster")
def load_raster(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
                limits: FileLimits | None) -> Loaded:
    data = _read_file(path, limits)
    if not data:
        raise ImageError("zero-byte", "empty file")
    if data[128:132] == b"DICM":  # a DICOM file without a .dcm name (common in table layouts)
        return load_dicom(path, params, max_side, fmt, limits)
    max_pixels = limits.max_pixels if limits is not None else None
    try:
        with _pil_limit(max_pixels):
            img = Image.open(io.BytesIO(data))
            check_decoded(limits, img.width * img.height, _pil_bytes_per_pixel(img.mode),
                          f"{img.format or 'image'} {img.width}x{img.height} {img.mode}")
            raw_size = img.size
            size = target_size(img.size, max_side)
            if size and img.format == "JPEG":
                img.draft(img.mode if img.mode in ("L", "RGB") else None, size)  # DCT-domain downscale
            img.load()
            loaded = _finish_raster(img, data, max_side, fmt)
            loaded.source_size = raw_size
            return loaded
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("decompression-bomb", f"{e} (max_pixels={max_pixels:,})") from None
    except UnidentifiedImageError:
        if data.startswith(_MAGIC):  # looks like an image format but does not parse
            raise ImageError("corrupt-image", "image signature present but the header does not parse") from None
        raise ImageError("not-an-image", "PIL does not recognise the file") from None
    except MemoryError:
        raise
    except OSError as e:
        reason = "truncated-image" if "truncat" in str(e).lower() or "end of" in str(e).lower() else "corrupt-image"
        raise ImageError(reason, str(e)) from None
    except Exception as e:  # SyntaxError, ValueError, struct.error ... from damaged headers or metadata
        raise ImageError("corrupt-image", f"{type(e).__name__}: {e}") from None


def _finish_raster(img: Image.Image, data: bytes, max_side: int | None, fmt: str) -> Loaded:
    """EXIF orientation, 8-bit conversion, and whether the original bytes can be kept."""
    source_format = img.format or "?"
    orientation = img.getexif().get(0x0112, 1) if source_format == "JPEG" else 1
    exif_rotated = orientation != 1
    if exif_rotated:
        from PIL import ImageOps

        img = ImageOps.exif_transpose(img)
    keep = (
        source_format in ("PNG", "JPEG") and img.mode in ("L", "RGB") and not exif_rotated
        and target_size(img.size, max_side) is None and not (source_format == "PNG" and "transparency" in img.info)
        and (fmt == "auto" or (fmt == "png") == (source_format == "PNG"))
    )
    turned = orientation if exif_rotated and orientation in range(2, 9) else 1
    return Loaded(to_8bit(img), source_format, data if keep else None, orientation=turned)


@LOADERS.register("dicom")
def load_dicom(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
               limits: FileLimits | None) -> Loaded:
    from medmat.imaging.dicom import check_dicom_size, dicom_to_uint8, read_dicom

    if limits is not None:
        check_dicom_size(read_dicom(path, header_only=True), limits)
    arr = dicom_to_uint8(path, params.get("frame"), mip=params.get("frame_policy") == "mip",
                         window=params.get("window"))
    return Loaded(array_to_image(arr), "DICOM")


@LOADERS.register("nifti")
def load_nifti(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
               limits: FileLimits | None) -> Loaded:
    from medmat.imaging.nifti import check_volume_size, load_header, nifti_to_uint8

    if limits is not None:
        check_volume_size(load_header(path), limits)
    arr = nifti_to_uint8(path, int(params.get("axis", 2)), int(params.get("slice", 0)),
                         window=params.get("window"), percentiles=params.get("percentiles") or (0.5, 99.5))
    return Loaded(array_to_image(arr), "NIFTI")
