"""Box geometry between a raw image and its stored version, and the size readers check against.

A localisation annotation is given on the raw file's pixel grid (for a JPEG: the grid as
stored, before any EXIF orientation). The materialiser may turn the image (EXIF), and may
shrink it (``max_side``); the boxes follow the same two steps here, and the mask follows
them in ``medmat.imaging.masks``, so a box and the stored image always agree:

    raw grid (w, h) --orientation--> turned grid --scale--> stored grid (W, H)

Boxes are ``(label, x1, y1, x2, y2)`` with exclusive x2/y2 edges, so they are rectangles of
the continuous plane and every step is exact (no +-1 pixel rules).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from medmat.imaging.convert import ImageError

Box = tuple[str, float, float, float, float]
DECIMALS = 3  # stored box coordinates: 1/1000 pixel is far below any annotation's precision

# EXIF orientation -> how PIL's ImageOps.exif_transpose turns the image (Image.Transpose names).
ORIENTATIONS = {1: None, 2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}
_SWAPS = {"TRANSPOSE", "ROTATE_270", "TRANSVERSE", "ROTATE_90"}  # turns that swap width and height


def turned_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = size
    return (h, w) if ORIENTATIONS.get(orientation) in _SWAPS else (w, h)


def turn_box(box: tuple[float, float, float, float], size: tuple[int, int], orientation: int
             ) -> tuple[float, float, float, float]:
    """``box`` on a (w, h) grid after the EXIF turn ``orientation`` (PIL's conventions)."""
    x1, y1, x2, y2 = box
    w, h = size
    how = ORIENTATIONS.get(orientation)
    if how is None:
        return x1, y1, x2, y2
    return {
        "FLIP_LEFT_RIGHT": (w - x2, y1, w - x1, y2),
        "FLIP_TOP_BOTTOM": (x1, h - y2, x2, h - y1),
        "ROTATE_180": (w - x2, h - y2, w - x1, h - y1),
        "TRANSPOSE": (y1, x1, y2, x2),
        "ROTATE_90": (y1, w - x2, y2, w - x1),  # counter-clockwise: (x, y) -> (y, w - x)
        "ROTATE_270": (h - y2, x1, h - y1, x2),  # clockwise: (x, y) -> (h - y, x)
        "TRANSVERSE": (h - y2, w - x2, h - y1, w - x1),
    }[how]


def stored_boxes(boxes: Iterable[Box], source_size: tuple[int, int], orientation: int,
                 stored_size: tuple[int, int]) -> tuple[Box, ...]:
    """Boxes of the raw grid as boxes of the stored image (turned, then scaled per axis)."""
    tw, th = turned_size(source_size, orientation)
    sx, sy = stored_size[0] / tw, stored_size[1] / th
    out = []
    for label, *coords in boxes:
        x1, y1, x2, y2 = turn_box(tuple(coords), source_size, orientation)  # type: ignore[arg-type]
        out.append((label, round(x1 * sx, DECIMALS), round(y1 * sy, DECIMALS), round(x2 * sx, DECIMALS),
                    round(y2 * sy, DECIMALS)))
    return tuple(out)


# --------------------------------------------------------------------------- image size
def image_size(path: str, meta: Mapping[str, Any]) -> tuple[int, int]:
    """(width, height) of the raw grid the record's annotations refer to, from the header.

    Readers call this to check boxes before any pixel is decoded. The raw grid is what
    the loaders decode: a raster's stored pixels (before EXIF turns), a DICOM frame
    (Columns x Rows), a NIfTI slice in display orientation (see ``imaging.nifti``).
    Raises ImageError with a skip reason for a file whose header cannot say.
    """
    from medmat.imaging.loaders import sniff_format

    fmt = meta.get("source_format") or sniff_format(path)
    if fmt == "nifti":
        return _nifti_size(path, meta)
    if fmt == "dicom" or _is_dicom(path):
        return _dicom_size(path)
    return _raster_size(path)


def _is_dicom(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError as e:
        raise ImageError("missing-file", f"{type(e).__name__}: {e}") from None


def _raster_size(path: str) -> tuple[int, int]:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:  # reads the header only
                w, h = img.size
    except UnidentifiedImageError:
        raise ImageError("not-an-image", "PIL does not recognise the file") from None
    except (Image.DecompressionBombError, MemoryError) as e:
        raise ImageError("decompression-bomb", str(e)[:300]) from None
    except Exception as e:  # damaged headers raise assorted types
        raise ImageError("corrupt-image", f"unreadable header: {type(e).__name__}: {e}"[:300]) from None
    if w < 1 or h < 1:
        raise ImageError("corrupt-image", f"the header gives a {w}x{h} image")
    return int(w), int(h)


def _dicom_size(path: str) -> tuple[int, int]:
    from medmat.imaging.dicom import int_tag, n_frames, read_dicom

    ds = read_dicom(path, header_only=True)
    rows, cols = int_tag(ds, "Rows"), int_tag(ds, "Columns")
    if rows < 1 or cols < 1:
        raise ImageError("corrupt-image", f"the header gives the image {rows} rows and {cols} columns")
    if n_frames(ds) > 1:
        raise ImageError("dicom-unsupported", f"{n_frames(ds)} frames: an annotation of this file names no frame")
    return cols, rows


def _nifti_size(path: str, meta: Mapping[str, Any]) -> tuple[int, int]:
    from medmat.imaging.nifti import canonical_shape, load_header

    shape = canonical_shape(load_header(path))
    rest = [n for i, n in enumerate(shape) if i != int(meta.get("axis", 2))]
    return int(rest[0]), int(rest[1])  # slice_2d shows the first remaining axis as x
