"""Segmentation masks: decode a record's mask layers, find boxes, store the mask as a PNG.

A reader describes a record's mask as a *mask spec* (``record.meta['mask_spec']``, plain
JSON): the labels the stored indices stand for, and one or more *layers*, each a way to
decode part of the mask on the image's raw grid:

    raster  a mask image (binary: one label; or a label map: raw value/colour -> label)
    nifti   a slice of a NIfTI label volume (raw value -> label)
    rle     pixel runs (Kaggle RLE, already parsed and checked by the reader) of one label
    coco    a COCO segmentation (polygons or RLE) of one label, decoded by pycocotools

``MASK_LAYERS`` is the registry of layer decoders; each returns a uint8 map on the raw grid
(0 = background, k = the k-th entry of ``spec['labels']``) or raises ImageError
('mask-size-mismatch', 'bad-mask-value', 'corrupt-mask'). Boxes are found per layer and
per label as connected components (scipy.ndimage; ``connectivity`` 4 or 8) of at least
``min_area`` raw pixels, so overlapping layers (an optic cup inside its disc) each keep
their own boxes; the stored mask is the layers painted in order (a later layer wins
where they overlap), turned like the image, resized with NEAREST to the stored image's
size and written as ``masks/<h[:2]>/<h>.png`` (h = sha256 of the PNG bytes).
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any, Callable

import numpy as np

from medmat.imaging.annotations import ORIENTATIONS
from medmat.imaging.convert import ImageError
from medmat.registry import Registry

MASKS_DIR = "masks"
MaskLayer = Callable[[dict, str, tuple[int, int], Any], np.ndarray]
MASK_LAYERS: Registry[MaskLayer] = Registry("mask layer kind")


def _mismatch(what: str, got: tuple[int, int], size: tuple[int, int]) -> ImageError:
    return ImageError("mask-size-mismatch", f"{what} is {got[0]}x{got[1]}, the image {size[0]}x{size[1]}",
                      whole_file=False)


def _value_map(raw: np.ndarray, values: dict[str, int], what: str) -> np.ndarray:
    """Raw integer values -> label indices; a value that is neither 0 nor mapped is an error."""
    out = np.zeros(raw.shape, np.uint8)
    known = {int(k): int(v) for k, v in values.items()}
    found = np.unique(raw)
    bad = [int(v) for v in found if int(v) != 0 and int(v) not in known]
    if bad:
        raise ImageError("bad-mask-value", f"{what} has values {bad[:6]} that the layout does not map "
                                           f"(mapped: {sorted(known)})", whole_file=False)
    for value, index in known.items():
        out[raw == value] = index
    return out


def _colour_map(rgb: np.ndarray, values: dict[str, int], what: str) -> np.ndarray:
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    return _value_map(packed, {str(int(k.lstrip("#"), 16)): v for k, v in values.items()}, what)


@MASK_LAYERS.register("raster")
def raster_layer(layer: dict, data_root: str, size: tuple[int, int], limits: Any = None) -> np.ndarray:
    """A mask image: binary (``label``, ``threshold``, ``invert``) or a label map (``values``)."""
    import warnings

    from PIL import Image

    path = os.path.join(data_root, layer["path"])
    what = f"mask {layer['path']}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                if img.size != tuple(size):  # checked before decoding: the image already passed the pixel limits
                    raise _mismatch(what, img.size, size)
                img.load()
                mode = img.mode
                values = layer.get("values")
                colours = bool(values) and any(str(k).startswith("#") for k in values)
                if colours or (not values and mode not in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")):
                    arr = np.asarray(img.convert("RGB"))
                else:
                    arr = np.asarray(img if mode != "1" else img.convert("L"))
    except ImageError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # a damaged mask file
        raise ImageError("corrupt-mask", f"{what}: {type(e).__name__}: {e}"[:300], whole_file=False) from None
    if values:
        if colours:
            return _colour_map(arr, values, what)
        if arr.ndim == 3:
            raise ImageError("bad-mask-value", f"{what} is a colour image; map it with '#rrggbb' colours",
                             whole_file=False)
        return _value_map(arr, values, what)
    grey = arr.max(axis=2) if arr.ndim == 3 else arr
    fg = grey < layer["threshold"] if layer.get("invert") else grey >= layer["threshold"]
    return (fg * np.uint8(layer["label"])).astype(np.uint8)


@MASK_LAYERS.register("nifti")
def nifti_layer(layer: dict, data_root: str, size: tuple[int, int], limits: Any = None) -> np.ndarray:
    """Slice ``slice`` along ``axis`` of a label volume, oriented like the image slice."""
    from medmat.imaging.nifti import label_slice

    plane = label_slice(os.path.join(data_root, layer["path"]), int(layer["axis"]), int(layer["slice"]), limits)
    got = (plane.shape[1], plane.shape[0])
    if got != tuple(size):
        raise _mismatch(f"label slice {layer['slice']} of {layer['path']}", got, size)
    return _value_map(plane, layer["values"], f"label volume {layer['path']}")


def _runs_to_counts(runs: list[list[int]], n: int) -> list[int]:
    """0-based (start, length) runs -> COCO's alternating background/foreground run lengths."""
    counts, pos = [], 0
    for start, length in runs:
        counts += [start - pos, length]
        pos = start + length
    counts.append(n - pos)
    return counts


@MASK_LAYERS.register("rle")
def rle_layer(layer: dict, data_root: str, size: tuple[int, int], limits: Any = None) -> np.ndarray:
    """Checked 0-based runs in ``order`` ('column-major': down the columns, or 'row-major')."""
    from pycocotools import mask as coco_mask

    w, h = size
    column_major = layer["order"] == "column-major"
    grid = [h, w] if column_major else [w, h]  # pycocotools fills columns first: a row-major mask is its transpose
    rle = coco_mask.frPyObjects({"counts": _runs_to_counts(layer["runs"], w * h), "size": grid}, *grid)
    arr = coco_mask.decode(rle)
    arr = arr if column_major else arr.T
    return (arr > 0).astype(np.uint8) * np.uint8(layer["label"])


@MASK_LAYERS.register("coco")
def coco_layer(layer: dict, data_root: str, size: tuple[int, int], limits: Any = None) -> np.ndarray:
    """A COCO segmentation the reader checked: polygons, or RLE with explicit counts."""
    from pycocotools import mask as coco_mask

    w, h = size
    seg = layer["segmentation"]
    if isinstance(seg, dict):
        rles = [coco_mask.frPyObjects({"counts": seg["counts"], "size": [h, w]}, h, w)]
    else:
        rles = coco_mask.frPyObjects(seg, h, w)
    arr = coco_mask.decode(coco_mask.merge(rles))
    return (arr > 0).astype(np.uint8) * np.uint8(layer["label"])


# --------------------------------------------------------------------------- components
def components(layer: np.ndarray, min_area: int, connectivity: int) -> tuple[list[list[int]], int]:
    """([[k, x1, y1, x2, y2], ...] of every component of at least ``min_area`` pixels per label
    index k, in (k, y1, x1) order; and how many smaller components were left out)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)
    found, small = [], 0
    for k in (int(v) for v in np.unique(layer) if v):
        labelled, n = ndimage.label(layer == k, structure=structure)
        if not n:
            continue
        areas = np.bincount(labelled.ravel(), minlength=n + 1)
        for i, sl in enumerate(ndimage.find_objects(labelled), start=1):
            if sl is None:
                continue
            if areas[i] < min_area:
                small += 1
                continue
            found.append([k, sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
    found.sort(key=lambda b: (b[0], b[2], b[1], b[4], b[3]))
    return found, small


def _encode(mask: np.ndarray, orientation: int, stored_size: tuple[int, int]) -> bytes:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L")
    turn = ORIENTATIONS.get(orientation)
    if turn:
        img = img.transpose(getattr(Image.Transpose, turn))
    if img.size != tuple(stored_size):
        img = img.resize(tuple(stored_size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def build_mask(spec: dict, data_root: str, store_root: str, source_size: tuple[int, int], orientation: int,
               stored_size: tuple[int, int], write: Callable[[str, bytes], None], limits: Any = None) -> list:
    """Decode, measure and store one record's mask (runs in the image's worker).

    Returns ``[digest, nbytes, boxes, present, small]``: the stored PNG's sha256 and size,
    the component boxes on the raw grid (``[k, x1, y1, x2, y2]``), every label index with
    foreground, and the number of components under ``min_area``.
    """
    w, h = source_size
    merged = np.zeros((h, w), np.uint8)
    boxes: list[list[int]] = []
    small = 0
    for layer in spec["layers"]:
        try:
            decode = MASK_LAYERS.get(layer["kind"])
        except KeyError as e:
            raise ImageError("corrupt-mask", str(e), whole_file=False) from None
        arr = decode(layer, data_root, (w, h), limits)
        if spec.get("derive_boxes", True):
            found, n_small = components(arr, int(spec.get("min_area", 1)), int(spec.get("connectivity", 8)))
            boxes += found
            small += n_small
        merged[arr > 0] = arr[arr > 0]
    present = sorted(int(v) for v in np.unique(merged) if v)
    data = _encode(merged, orientation, stored_size)
    digest = hashlib.sha256(data).hexdigest()
    out = os.path.join(store_root, MASKS_DIR, digest[:2], f"{digest}.png")
    try:
        usable = os.stat(out).st_size == len(data)
    except OSError:
        usable = False
    if not usable:
        write(out, data)
    return [digest, len(data), boxes, present, small]


def mask_relpath(digest: str) -> str:
    """Where a stored mask lives, relative to the store root."""
    return f"{MASKS_DIR}/{digest[:2]}/{digest}.png"


def spec_files(spec: dict[str, Any]) -> list[str]:
    """The raw files a mask spec reads (for cache keys and provenance)."""
    return sorted({layer["path"] for layer in spec.get("layers", ()) if layer.get("path")})


def rle_string_counts(text: str) -> list[int] | None:
    """The run lengths of COCO's compressed RLE string (pycocotools' ``rleFrString``), or None
    for a string that is not one; read here so the counts can be checked before decoding."""
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                return None
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
            if k > 7:
                return None
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return None
        counts.append(x)
    return counts
