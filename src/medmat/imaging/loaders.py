"""Loaders: one source file (+ the record's loader parameters) -> an 8-bit PIL image.

A registry keyed by ``record.meta['source_format']`` ('raster', 'dicom', 'nifti'); a record
without it is sniffed by extension. Each loader also says whether the original bytes may be
kept as they are (an 8-bit PNG/JPEG that needs no change).
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image, UnidentifiedImageError

from medmat.registry import Registry
from medmat.imaging.convert import ImageError, array_to_image, target_size, to_8bit

DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # PIL's decompression-bomb limit


@dataclass
class Loaded:
    image: Image.Image  # mode 'L' or 'RGB'
    source_format: str  # 'PNG', 'JPEG', 'DICOM', 'NIFTI', ...
    raw: bytes | None = None  # the original file bytes when they may be kept byte-for-byte


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


def sniff_format(path: str) -> str:
    low = path.lower()
    if low.endswith((".nii", ".nii.gz")):
        return "nifti"
    if low.endswith((".dcm", ".dicom", ".dic")):
        return "dicom"
    return "raster"


@LOADERS.register("raster")
def load_raster(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
                max_pixels: int | None) -> Loaded:
    with open(path, "rb") as fh:
        data = fh.read()
    if not data:
        raise ImageError("zero-byte", "empty file")
    if data[128:132] == b"DICM":  # a DICOM file without a .dcm name (common in table layouts)
        return load_dicom(path, params, max_side, fmt, max_pixels)
    try:
        with _pil_limit(max_pixels):
            img = Image.open(io.BytesIO(data))
            if max_pixels and img.width * img.height > max_pixels:
                raise ImageError("decompression-bomb", f"{img.width}x{img.height} exceeds {max_pixels} pixels")
            size = target_size(img.size, max_side)
            if size and img.format == "JPEG":
                img.draft(img.mode if img.mode in ("L", "RGB") else None, size)  # DCT-domain downscale
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("decompression-bomb", str(e)) from None
    except UnidentifiedImageError:
        if data.startswith(_MAGIC):  # looks like an image format but does not parse
            raise ImageError("corrupt-image", "image signature present but the header does not parse") from None
        raise ImageError("not-an-image", "PIL does not recognise the file") from None
    except OSError as e:
        reason = "truncated-image" if "truncat" in str(e).lower() or "end of" in str(e).lower() else "corrupt-image"
        raise ImageError(reason, str(e)) from None
    except Exception as e:  # SyntaxError, ValueError ... from damaged headers
        raise ImageError("corrupt-image", f"{type(e).__name__}: {e}") from None
    source_format = img.format or "?"
    exif_rotated = source_format == "JPEG" and img.getexif().get(0x0112, 1) != 1
    if exif_rotated:
        from PIL import ImageOps

        img = ImageOps.exif_transpose(img)
    keep = (
        source_format in ("PNG", "JPEG") and img.mode in ("L", "RGB") and not exif_rotated
        and target_size(img.size, max_side) is None and not (source_format == "PNG" and "transparency" in img.info)
        and (fmt == "auto" or (fmt == "png") == (source_format == "PNG"))
    )
    return Loaded(to_8bit(img), source_format, data if keep else None)


@LOADERS.register("dicom")
def load_dicom(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
               max_pixels: int | None) -> Loaded:
    from medmat.imaging.dicom import dicom_to_uint8, n_frames, read_dicom

    if max_pixels:
        ds = read_dicom(path, header_only=True)
        pixels = int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0) * n_frames(ds)
        if pixels > max_pixels:
            raise ImageError("decompression-bomb", f"{pixels} pixels exceed {max_pixels}")
    arr = dicom_to_uint8(path, params.get("frame"), mip=params.get("frame_policy") == "mip",
                         window=params.get("window"))
    return Loaded(array_to_image(arr), "DICOM")


@LOADERS.register("nifti")
def load_nifti(path: str, params: dict[str, Any], max_side: int | None, fmt: str,
               max_pixels: int | None) -> Loaded:
    from medmat.imaging.nifti import load_header, nifti_to_uint8

    if max_pixels:
        shape = load_header(path).shape
        pixels = 1
        for n in shape[:3]:
            pixels *= int(n)
        if pixels > max_pixels:
            raise ImageError("decompression-bomb", f"volume {shape} exceeds {max_pixels} voxels")
    arr = nifti_to_uint8(path, int(params.get("axis", 2)), int(params.get("slice", 0)),
                         window=params.get("window"), percentiles=params.get("percentiles") or (0.5, 99.5))
    return Loaded(array_to_image(arr), "NIFTI")
