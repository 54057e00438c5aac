"""Reader for COCO detection json: ``images``, ``annotations`` (``bbox: [x, y, w, h]``), ``categories``.

Every image entry is checked against its file (it must exist, and the ``width``/``height``
the json states must be the file's, else Skip('image-size-mismatch') for the image and its
annotations); every annotation against its image (an ``image_id`` no image entry has is
Skip('missing-image'), a ``category_id`` no category has Skip('unknown-category'), a
category name that is not a dataset label Skip('unknown-label'), a box Skip('bad-box' |
'zero-area-box' | 'box-outside-image')). An image entry without annotations says "no
finding". With ``use_segmentation`` the annotations' segmentation (polygons or RLE) is
also kept as the record's mask, decoded by pycocotools when the image is materialised;
its boxes stay the annotations' ``bbox``. ``crowd`` annotations are kept and counted.

Layout: ``file`` (json, relative to ``root``) or ``split_files`` ({split: json}),
``image_dir`` (the folder ``file_name`` is relative to), ``use_segmentation``, ``empty_label``.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections import Counter
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import (
    PathEscapesRoot, ReaderContext, SourceError, is_file, lget, normalize_split, safe_relpath,
)
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import layout_root

MAX_JSON_BYTES = 1 << 30


def load_json(path) -> Any:
    """A json annotation file, or SourceError naming the file and why it cannot be read."""
    if not is_file(path):
        raise SourceError(f"annotation file {path} does not exist")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise SourceError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MB; not an annotation file medmat reads")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise SourceError(f"{path}: JSON nested too deeply") from None


def annotation_files(ctx: ReaderContext, layout: Any, root_rel: str) -> list[tuple[str | None, Any]]:
    """[(split or None, path)] from ``file`` or ``split_files``."""
    single, per_split = lget(layout, "file", None), dict(lget(layout, "split_files", {}) or {})
    if bool(single) == bool(per_split):
        raise SourceError(f"dataset {ctx.dataset_id}: set exactly one of 'file' or 'split_files'")
    out = []
    for split, rel in ([(lget(layout, "split", None), single)] if single else sorted(per_split.items())):
        try:
            split = normalize_split(split)
        except KeyError:
            raise SourceError(f"dataset {ctx.dataset_id}: {split!r} is not a split (train/val/test)") from None
        out.append((split, ctx.data_root / safe_relpath(ctx.data_root, posixpath.join(root_rel, rel))))
    return out


def _is_id(v: Any) -> bool:
    """COCO ids are numbers (or, in some exports, strings); anything else names nothing."""
    return isinstance(v, (int, str)) and not isinstance(v, bool)


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def _number(v: Any) -> bool:
    try:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:  # an integer too large for a float is no pixel coordinate
        return False


def check_segmentation(seg: Any, size: tuple[int, int], where: str) -> Any:
    """A COCO segmentation that pycocotools can decode safely on a (w, h) image, or Bad.

    Polygons: lists of >= 3 points inside the image. RLE: ``size`` [h, w] and ``counts``
    (a list, or the compressed string) adding up to exactly h * w pixels, so the decoder
    never writes past its buffer."""
    from medmat.imaging.masks import rle_string_counts

    w, h = size
    if isinstance(seg, list):
        if not seg or not all(isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(map(_number, p))
                              for p in seg):
            raise Bad("bad-segmentation", f"{where}: polygons must be lists of >= 3 x, y points")
        xs = [v for p in seg for v in p[0::2]]
        ys = [v for p in seg for v in p[1::2]]
        if min(xs) < 0 or min(ys) < 0 or max(xs) > w or max(ys) > h:
            raise Bad("box-outside-image", f"{where}: a polygon leaves the {w}x{h} image")
        return [[float(v) for v in p] for p in seg]
    if isinstance(seg, dict) and set(seg) >= {"counts", "size"}:
        if seg["size"] != [h, w]:
            raise Bad("mask-size-mismatch", f"{where}: RLE size {seg['size']!r} is not the image's [{h}, {w}]")
        counts = seg["counts"]
        if isinstance(counts, str):
            counts = rle_string_counts(counts)
        if not isinstance(counts, list) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                                                   for c in counts or [None]):
            raise Bad("bad-segmentation", f"{where}: RLE counts are not whole numbers >= 0")
        if sum(counts) != w * h:
            raise Bad("bad-segmentation", f"{where}: RLE counts cover {sum(counts)} pixels, the image {w * h}")
        return {"counts": counts}
    raise Bad("bad-segmentation", f"{where}: segmentation is neither polygons nor RLE")


def _entry(ctx: ReaderContext, loc: Localiser, item: Any, image_dir: str, split, where: str) -> Annotated:
    if not isinstance(item, dict) or not isinstance(item.get("file_name"), str) or "id" not in item:
        raise Bad("malformed-annotation", f"{where}: an image entry needs 'id' and 'file_name'")
    try:
        rel = safe_relpath(ctx.data_root, posixpath.join(image_dir, item["file_name"].replace("\\", "/")))
    except PathEscapesRoot as e:
        raise Bad("path-escapes-root", f"{where}: {e}") from None
    if item["file_name"].startswith(("/", "\\")) or not is_file(ctx.data_root / rel):
        raise Bad("missing-image", f"{where}: image file {rel} not found")
    img = Annotated(rel, split=split, meta={"annotation_source": where.split(":")[0]})
    w, h = loc.size(rel, img.meta)
    stated = (item.get("width"), item.get("height"))
    if stated != (None, None) and stated != (w, h):
        raise Bad("image-size-mismatch", f"{where}: the json says {stated[0]}x{stated[1]}, the file is {w}x{h}")
    img.size = (w, h)
    return img


def read_coco(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    image_dir = posixpath.join(root_rel, lget(layout, "image_dir", "") or "")
    use_seg = bool(lget(layout, "use_segmentation", False))
    loc = Localiser(ctx, layout)
    for split, path in annotation_files(ctx, layout, root_rel):
        doc = load_json(path)
        if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
            raise SourceError(f"{path}: a COCO file is an object with 'images' and 'annotations' lists")
        cats = {c["id"]: c.get("name") for c in _list(doc.get("categories"))
                if isinstance(c, dict) and _is_id(c.get("id"))}
        images: dict[Any, Annotated | Skip] = {}
        unused: Counter = Counter()  # annotations of an image that is itself a skip
        for i, item in enumerate(doc["images"]):
            where = f"{path.name}: images[{i}]"
            key = item.get("id") if isinstance(item, dict) else None
            if not _is_id(key) or key in images:
                yield ctx.skip(where, "malformed-annotation", f"{where}: image id {key!r} is not a unique id")
                continue
            try:
                images[key] = _entry(ctx, loc, item, image_dir, split, where)
            except Bad as e:
                images[key] = ctx.skip(where, e.reason, e.detail)
        for i, ann in enumerate(doc["annotations"]):
            where = f"{path.name}: annotations[{i}]"
            key = ann.get("image_id") if isinstance(ann, dict) else None
            img = images.get(key) if _is_id(key) else None
            if img is None:
                yield ctx.skip(where, "missing-image", f"{where}: image_id {key!r} is not in 'images'")
            elif isinstance(img, Skip):
                unused[key] += 1
            else:
                try:
                    _annotation(loc, img, ann, cats, use_seg, where)
                except Bad as e:
                    img.skips.append(ctx.skip(img.rel, e.reason, e.detail))
        for key, img in sorted(images.items(), key=lambda kv: kv[1].rel if isinstance(kv[1], Annotated) else kv[1].path):
            if isinstance(img, Skip):
                img.detail += f" ({unused[key]} annotation(s) of this image not used)" if unused[key] else ""
                yield img
                continue
            if not img.boxes and not img.skips:
                img.empty += 1
            yield from _finish(loc, img)


def _annotation(loc: Localiser, img: Annotated, ann: dict, cats: dict, use_seg: bool, where: str) -> None:
    cat = ann.get("category_id")
    if not _is_id(cat) or cat not in cats:
        raise Bad("unknown-category", f"{where}: category_id {cat!r} is not in 'categories'")
    label = loc.label(cats[cat], f"{where}: ")
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(_number, bbox)):
        raise Bad("bad-box", f"{where}: bbox {bbox!r} is not [x, y, width, height]")
    x, y, w, h = bbox
    box = loc.box(label, [x, y, x + w, y + h], img.size, where)
    layer = None
    if use_seg and ann.get("segmentation") is not None:
        seg = check_segmentation(ann["segmentation"], img.size, where)
        layer = {"kind": "coco", "segmentation": seg, "label": loc.index(label)}
    img.boxes.append(box)
    if ann.get("iscrowd"):
        img.notes["crowd_annotations"] += 1
    if layer is not None:
        img.layers = (img.layers or []) + [layer]


def _finish(loc: Localiser, img: Annotated) -> Iterator[LabeledRecord | Skip]:
    """Boxes from ``bbox``; the segmentation layers, when kept, become the stored mask only."""
    layers, img.layers = img.layers, None
    for item in loc.finish(img):
        if layers and isinstance(item, LabeledRecord):
            item.mask = img.meta["annotation_source"]
            item.meta["mask_spec"] = {"layers": layers, "labels": list(loc.order), "derive_boxes": False}
        yield item
