"""Reader for Pascal VOC XML: one annotation file per image, paired with it by name pattern.

    image_pattern: "JPEGImages/{id}.jpg"
    annotation_pattern: "Annotations/{id}.xml"

Each ``<object>`` with ``<name>`` and ``<bndbox>`` (xmin, ymin, xmax, ymax) is one box. VOC
counts pixels from 1 and includes ``xmax``/``ymax`` (``one_based``, the default), so a box
becomes x1 = xmin - 1, x2 = xmax on medmat's 0-based grid with exclusive edges; with
``one_based: false`` the four numbers are taken as 0-based edges. ``<size>`` must state the
image file's own width and height (Skip('image-size-mismatch') otherwise). An image is
paired by the pattern, not by ``<filename>``, which converted datasets often leave stale;
a ``<filename>`` that differs is noted in the record's meta. ``<difficult>`` and
``<truncated>`` objects are kept and counted. An XML file without objects says "no finding".
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import Pair, layout_root, pair_files

MAX_XML_BYTES = 16 << 20


def read_small(path, limit: int, what: str) -> bytes:
    """A small annotation file's bytes, or Bad('malformed-annotation') when it is too large to be one."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise Bad("malformed-annotation", f"{what} has {size:,} bytes, more than an annotation file holds "
                                              f"({limit:,})")
        return path.read_bytes()
    except OSError as e:
        raise Bad("malformed-annotation", f"{what}: {type(e).__name__}: {e}") from None


def only_file(pair: Pair, kind: str) -> str:
    files = pair.files.get(kind, [])
    if not files:
        raise Bad("missing-annotation", f"no {kind} file for this image")
    if len(files) > 1:
        raise Bad("ambiguous-annotation", f"{len(files)} {kind} files for this image: {files[:3]}")
    return files[0]


def _text(node: ET.Element | None, tag: str) -> str | None:
    child = node.find(tag) if node is not None else None
    return None if child is None or child.text is None else child.text.strip()


def _parse(ctx: ReaderContext, data: bytes, what: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise Bad("malformed-annotation", f"{what}: not well-formed XML: {e}") from None
    except (ValueError, RecursionError) as e:
        raise Bad("malformed-annotation", f"{what}: unreadable XML: {type(e).__name__}") from None
    if root.tag != "annotation":
        raise Bad("malformed-annotation", f"{what}: the root element is <{root.tag}>, not <annotation>")
    return root


def _object(loc: Localiser, img: Annotated, obj: ET.Element, one_based: bool, where: str) -> None:
    name = _text(obj, "name")
    if not name:
        raise Bad("malformed-annotation", f"{where}: an <object> without <name>")
    label = loc.label(name, f"{where}: ")
    box = obj.find("bndbox")
    coords = [_text(box, t) for t in ("xmin", "ymin", "xmax", "ymax")]
    if box is None or any(c is None for c in coords):
        raise Bad("bad-box", f"{where}: <bndbox> needs xmin, ymin, xmax and ymax")
    try:
        x1, y1, x2, y2 = (float(c) for c in coords)  # type: ignore[arg-type]
    except ValueError:
        raise Bad("bad-box", f"{where}: coordinates {coords} are not numbers") from None
    if one_based:
        x1, y1 = x1 - 1, y1 - 1
    img.boxes.append(loc.box(label, [x1, y1, x2, y2], img.size, where))
    for flag in ("difficult", "truncated"):
        if _text(obj, flag) == "1":
            img.notes[f"{flag}_boxes"] += 1


def _annotate(ctx: ReaderContext, loc: Localiser, pair: Pair, one_based: bool) -> Annotated:
    xml_rel = only_file(pair, "annotation")
    root = _parse(ctx, read_small(ctx.data_root / xml_rel, MAX_XML_BYTES, xml_rel), xml_rel)
    img = Annotated(pair.rel, split=pair.split, meta={"annotation_source": xml_rel})
    img.size = loc.size(pair.rel, img.meta)
    size = root.find("size")
    stated = (_text(size, "width"), _text(size, "height"))
    if size is not None and stated != (str(img.size[0]), str(img.size[1])):
        try:
            same = (round(float(stated[0] or "nan")), round(float(stated[1] or "nan"))) == img.size
        except (ValueError, OverflowError):
            same = False
        if not same:
            raise Bad("image-size-mismatch", f"{xml_rel}: <size> says {stated[0]}x{stated[1]}, the image is "
                                             f"{img.size[0]}x{img.size[1]}")
    filename = _text(root, "filename")
    if filename and filename != posixpath.basename(pair.rel):
        img.meta["voc_filename"] = filename[:200]
    objects = root.findall("object")
    for i, obj in enumerate(objects):
        try:
            _object(loc, img, obj, one_based, f"{xml_rel}: object {i + 1}")
        except Bad as e:
            img.skips.append(ctx.skip(pair.rel, e.reason, e.detail))
    if not objects:
        img.empty += 1
    return img


def read_voc(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    image_pattern, xml_pattern = lget(layout, "image_pattern", None), lget(layout, "annotation_pattern", None)
    if not image_pattern or not xml_pattern:
        raise SourceError(f"dataset {ctx.dataset_id}: a voc layout needs 'image_pattern' and 'annotation_pattern'")
    one_based = bool(lget(layout, "one_based", True))
    loc = Localiser(ctx, layout)
    pairs, skips = pair_files(ctx, root_rel, image_pattern, {"annotation": [xml_pattern]})
    yield from skips
    for pair in pairs:
        try:
            img = _annotate(ctx, loc, pair, one_based)
        except Bad as e:
            yield ctx.skip(pair.rel, e.reason, e.detail)
            continue
        yield from loc.finish(img)
