"""Reader for box tables (CSV/TSV, VinDr style): one row per box, images named by a column.

    image_id,rad_id,class_name,x_min,y_min,x_max,y_max
    a1,R9,Aortic enlargement,691,1375,1653,1831
    b7,R9,No finding,,,,

Rows are grouped by image (several boxes, and several readers, per image). A row whose
label is the layout's ``empty_label`` says "no finding" and must have empty coordinates
(else Skip('box-on-no-finding')); any other row needs all four (else
Skip('missing-coordinates')). Boxes are checked against the image's size from its header
(PNG/JPEG/..., or DICOM as in the VinDr sets: Columns x Rows), one skip per bad row;
an image that cannot be found or read is one skip for all its rows. ``box_format`` says
whether the four columns are x_min, y_min, x_max, y_max ('xyxy') or x, y, width, height
('xywh'). ``split_tables`` ({split: table}) replaces ``table`` when each split has its own.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget, normalize_split, safe_relpath
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import FileIndex, ImageLocator, layout_root
from medmat.sources.tables import need_column, read_table


@dataclass
class RowGroup:
    """The rows of one table that name one image."""

    rel: str
    split: str | None = None
    group: str | None = None
    rows: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (file:line, row)
    table: str = ""


def _tables(ctx: ReaderContext, layout: Any, root_rel: str) -> list[tuple[str | None, Path]]:
    split_tables = dict(lget(layout, "split_tables", {}) or {})
    table = lget(layout, "table", None)
    if bool(table) == bool(split_tables):
        raise SourceError(f"dataset {ctx.dataset_id}: set exactly one of 'table' or 'split_tables'")
    named = [(None, table)] if table else sorted(split_tables.items())
    out = []
    for split, rel in named:
        try:
            split = normalize_split(split) if split else None
        except KeyError:
            raise SourceError(f"dataset {ctx.dataset_id}: split_tables key {split!r} is not a split") from None
        out.append((split, ctx.data_root / safe_relpath(ctx.data_root, posixpath.join(root_rel, rel))))
    return out


def table_groups(ctx: ReaderContext, layout: Any, columns: list[tuple[str, str | None]]
                 ) -> tuple[list[RowGroup], list[Skip]]:
    """Rows grouped by the image they name (sorted by image path), and one skip per image that
    cannot be found. ``columns``: (layout field, column name) that must exist."""
    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    locator = ImageLocator(FileIndex(ctx, root_rel), layout)
    image_col = lget(layout, "image_column", "image")
    split_col, group_col = lget(layout, "split_column", None), lget(layout, "group_column", None)
    groups: dict[str, RowGroup] = {}
    missing: dict[str, tuple[Bad, list[str]]] = {}
    for fixed_split, path in _tables(ctx, layout, root_rel):
        header, rows = read_table(path, layout)
        for what, column in [("image_column", image_col), ("split_column", split_col), ("group_column", group_col),
                             *columns]:
            need_column(path, header, column, what)
        for line, row in rows:
            where = f"{path.name}:{line}"
            try:
                rel = locator.find(row[image_col])
            except Bad as e:
                missing.setdefault(row[image_col], (e, []))[1].append(where)
                continue
            g = groups.setdefault(rel, RowGroup(rel, fixed_split, table=path.relative_to(ctx.data_root).as_posix()))
            if split_col and g.split is None and row[split_col]:
                try:
                    g.split = normalize_split(row[split_col])
                except KeyError:
                    g.split = f"?{row[split_col]}"  # reported by the reader as unknown-split
            if group_col and g.group is None:
                g.group = row[group_col] or None
            g.rows.append((where, row))
    skips = [ctx.skip(value or "(empty)", bad.reason, f"{len(wheres)} row(s) ({', '.join(wheres[:3])}"
                                                       f"{' ...' if len(wheres) > 3 else ''}): {bad.detail}")
             for value, (bad, wheres) in sorted(missing.items())]
    return [groups[k] for k in sorted(groups)], skips


def start(ctx: ReaderContext, g: RowGroup, loc: Localiser, layout: Any) -> Annotated | Skip:
    """The Annotated of a row group with its size checked, or the one skip of the image."""
    img = Annotated(g.rel, split=g.split, group=g.group, meta={"annotation_source": g.table})
    if g.split and g.split.startswith("?"):
        return ctx.skip(g.rel, "unknown-split", f"{g.rows[0][0]}: split {g.split[1:]!r}")
    window = lget(layout, "window", None)
    if window:
        img.meta["window"] = [float(window[0]), float(window[1])]
    try:
        img.size = loc.size(g.rel, img.meta)
    except Bad as e:
        return ctx.skip(g.rel, e.reason, f"{len(g.rows)} row(s) from {g.rows[0][0]}: {e.detail}")
    return img


def _box(row: dict[str, str], cols: list[str], fmt: str) -> list[str] | list[float]:
    values = [row[c] for c in cols]
    if fmt == "xywh" and all(v.strip() for v in values):
        try:
            x, y, w, h = (float(v) for v in values)
        except ValueError:
            return values
        return [x, y, x + w, y + h]
    return values


def read_box_table(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    cols = list(lget(layout, "box_columns", None) or ["x_min", "y_min", "x_max", "y_max"])
    fmt = lget(layout, "box_format", "xyxy")
    label_col = lget(layout, "label_column", "label")
    groups, skips = table_groups(ctx, layout, [("label_column", label_col)] + [("box_columns", c) for c in cols])
    loc = Localiser(ctx, layout)
    yield from skips
    for g in groups:
        img = start(ctx, g, loc, layout)
        if isinstance(img, Skip):
            yield img
            continue
        size = img.size
        for where, row in g.rows:
            try:
                label = loc.label(row[label_col], f"{where}: ")
                coords = _box(row, cols, fmt)
                blank = [not str(v).strip() for v in coords]
                if label == loc.empty_label:
                    if not all(blank):
                        raise Bad("box-on-no-finding", f"{where}: a {label!r} row has coordinates {coords}")
                    img.empty += 1
                    continue
                if all(blank):
                    raise Bad("missing-coordinates", f"{where}: a {label!r} row has no coordinates")
                img.boxes.append(loc.box(label, coords, size, where))  # type: ignore[arg-type]
            except Bad as e:
                img.skips.append(ctx.skip(g.rel, e.reason, e.detail))
        yield from loc.finish(img)
