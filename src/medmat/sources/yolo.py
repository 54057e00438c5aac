"""Reader for YOLO txt labels: ``class cx cy w h`` per line, normalised by the image's size.

    image_pattern: "images/{split}/{id}.jpg"
    label_pattern: "labels/{split}/{id}.txt"
    classes: [Polyp, Adenoma]            # or classes_file: classes.txt | data.yaml (names:)

A label file is paired with its image by the patterns. Each line is one box: the class
index (into ``classes``), then centre x, centre y, width, height as fractions of the
image's width and height (read from its header), so the box is x1 = (cx - w/2) * W ...
An empty label file says "no finding"; an image without one is Skip('missing-annotation')
(a missing file is not read as "no objects": it may be an image nobody labelled). A class
index outside the class list is Skip('unknown-category'), a line that is not five numbers
Skip('bad-box') (segment polygons: Skip('unsupported-annotation')), each for its line.
"""

from __future__ import annotations

import posixpath
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, is_file, lget, safe_relpath
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import Pair, layout_root, pair_files
from medmat.sources.voc import only_file, read_small

MAX_LABEL_BYTES = 4 << 20


def class_names(ctx: ReaderContext, layout: Any, root_rel: str) -> list[str]:
    """The class list: ``classes``, or ``classes_file`` (one name a line, or a data.yaml ``names``)."""
    listed, file = lget(layout, "classes", None), lget(layout, "classes_file", None)
    if bool(listed) == bool(file):
        raise SourceError(f"dataset {ctx.dataset_id}: set exactly one of 'classes' or 'classes_file'")
    if listed:
        return [str(c) for c in listed]
    path = ctx.data_root / safe_relpath(ctx.data_root, posixpath.join(root_rel, file))
    if not is_file(path) or path.stat().st_size > MAX_LABEL_BYTES:
        raise SourceError(f"{path}: the class list does not exist (or is too large to be one)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        return [line.strip() for line in text.splitlines() if line.strip()]
    import yaml

    try:
        names = (yaml.safe_load(text) or {}).get("names")
    except (yaml.YAMLError, AttributeError, RecursionError) as e:
        raise SourceError(f"{path}: not a data.yaml with 'names': {type(e).__name__}") from None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        names = [names[k] for k in sorted(names)] if sorted(names) == list(range(len(names))) else None
    if not isinstance(names, list) or not all(isinstance(n, (str, int, float)) for n in names):
        raise SourceError(f"{path}: 'names' must be a list (or a dict 0..n-1) of class names")
    return [str(n) for n in names]


def _line(loc: Localiser, img: Annotated, classes: list[str], text: str, where: str) -> None:
    parts = text.split()
    if len(parts) > 5 and len(parts) % 2 == 1:
        raise Bad("unsupported-annotation", f"{where}: {len(parts) - 1} coordinates look like a segment polygon; "
                                            "medmat reads YOLO boxes")
    if len(parts) != 5:
        raise Bad("bad-box", f"{where}: a YOLO line is 'class cx cy w h', got {len(parts)} values")
    try:
        cls = int(parts[0])
    except ValueError:
        raise Bad("unknown-category", f"{where}: class {parts[0][:50]!r} is not an index") from None
    if not 0 <= cls < len(classes):
        raise Bad("unknown-category", f"{where}: class index {cls} is not in 0..{len(classes) - 1}")
    label = loc.label(classes[cls], f"{where}: ")
    try:
        cx, cy, w, h = (float(p) for p in parts[1:])
    except ValueError:
        raise Bad("bad-box", f"{where}: {parts[1:]} are not numbers") from None
    width, height = img.size
    img.boxes.append(loc.box(label, [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
                                     (cy + h / 2) * height], img.size, where))


def _annotate(ctx: ReaderContext, loc: Localiser, classes: list[str], pair: Pair) -> Annotated:
    txt_rel = only_file(pair, "label")
    data = read_small(ctx.data_root / txt_rel, MAX_LABEL_BYTES, txt_rel)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Bad("malformed-annotation", f"{txt_rel}: not UTF-8 text (byte {e.start})") from None
    img = Annotated(pair.rel, split=pair.split, meta={"annotation_source": txt_rel})
    img.size = loc.size(pair.rel, img.meta)
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    for i, line in lines:
        try:
            _line(loc, img, classes, line, f"{txt_rel}:{i}")
        except Bad as e:
            img.skips.append(ctx.skip(pair.rel, e.reason, e.detail))
    if not lines:
        img.empty += 1
    return img


def read_yolo(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    image_pattern, txt_pattern = lget(layout, "image_pattern", None), lget(layout, "label_pattern", None)
    if not image_pattern or not txt_pattern:
        raise SourceError(f"dataset {ctx.dataset_id}: a yolo layout needs 'image_pattern' and 'label_pattern'")
    classes = class_names(ctx, layout, root_rel)
    loc = Localiser(ctx, layout)
    listed = lget(layout, "classes_file", None)
    ignore = frozenset([posixpath.normpath(posixpath.join(root_rel, listed))] if listed else [])
    pairs, skips = pair_files(ctx, root_rel, image_pattern, {"label": [txt_pattern]}, ignore)
    yield from skips
    for pair in pairs:
        try:
            img = _annotate(ctx, loc, classes, pair)
        except Bad as e:
            yield ctx.skip(pair.rel, e.reason, e.detail)
            continue
        yield from loc.finish(img)
