"""Reader for run-length masks in tables (Kaggle pixel RLE): one row per region or per class.

    id,class,segmentation                      (UW-Madison GI tract: row-major, 1-based)
    case123_day20_slice_0065,stomach,28094 3 28358 7 28623 9
    ImageId,EncodedPixels                      (SIIM-ACR: column-major, relative, -1 = empty)
    1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090,-1

An RLE is pairs ``start length``. Where the pixel numbering runs differs between
competitions, so the layout must say: ``rle_order`` 'row-major' (along each row, then the
next row) or 'column-major' (down each column, then the next column); ``rle_offsets``
'absolute' (each start counts from the first pixel, ``rle_start`` 1 or 0 based) or
'relative' (SIIM-ACR: each start counts from the end of the previous run, 0-based).
Every run is checked against the image's size from its header: runs that leave the
image, overlap or go backwards are Skip('bad-rle') for that row. A value in
``empty_values`` ('' and '-1' by default) says the row's class is absent; an image all of
whose rows are empty shows no finding (the layout's ``empty_label``, else
Skip('empty-mask')). The runs become mask layers decoded when the image is materialised.
"""

from __future__ import annotations

from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget
from medmat.sources._localise import Bad, Localiser
from medmat.sources.box_table import start, table_groups

ORDERS = ("row-major", "column-major")
MAX_RUNS = 1 << 22


def parse_runs(text: str, size: tuple[int, int], offsets: str, base: int, where: str) -> list[list[int]]:
    """Checked 0-based absolute (start, length) runs of one RLE on a (w, h) image, or Bad."""
    parts = text.split()
    if len(parts) % 2 or len(parts) > 2 * MAX_RUNS:
        raise Bad("bad-rle", f"{where}: an RLE is pairs of start and length, got {len(parts)} numbers")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise Bad("bad-rle", f"{where}: the RLE holds something that is not a whole number") from None
    n = size[0] * size[1]
    runs, end = [], 0
    for i in range(0, len(nums), 2):
        first, length = nums[i], nums[i + 1]
        begin = end + first if offsets == "relative" else first - base
        if length <= 0 or first < 0 or begin < end or begin + length > n:
            raise Bad("bad-rle", f"{where}: run {i // 2 + 1} ({first} {length}) is empty, goes backwards, overlaps "
                                 f"the previous run or leaves the {size[0]}x{size[1]} image")
        runs.append([begin, length])
        end = begin + length
    return runs


def _settings(ctx: ReaderContext, layout: Any) -> tuple[str, str, int]:
    order = lget(layout, "rle_order", None)
    if order not in ORDERS:
        raise SourceError(f"dataset {ctx.dataset_id}: rle_order must be one of {ORDERS} (the layout must say "
                          f"which pixel order its RLE uses), got {order!r}")
    offsets = lget(layout, "rle_offsets", "absolute")
    if offsets not in ("absolute", "relative"):
        raise SourceError(f"dataset {ctx.dataset_id}: rle_offsets must be 'absolute' or 'relative', got {offsets!r}")
    base = int(lget(layout, "rle_start", 0 if offsets == "relative" else 1))
    return order, offsets, base


def read_rle_table(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    order, offsets, base = _settings(ctx, layout)
    label_col, fixed = lget(layout, "label_column", None), lget(layout, "label", None)
    if bool(label_col) == bool(fixed):
        raise SourceError(f"dataset {ctx.dataset_id}: set exactly one of 'label_column' or 'label'")
    rle_col = lget(layout, "rle_column", "rle")
    empty_values = {str(v).strip() for v in (lget(layout, "empty_values", None) or ["", "-1"])}
    groups, skips = table_groups(ctx, layout, [("label_column", label_col), ("rle_column", rle_col)])
    loc = Localiser(ctx, layout, [fixed] if fixed else [])
    yield from skips
    for g in groups:
        img = start(ctx, g, loc, layout)
        if isinstance(img, Skip):
            yield img
            continue
        img.layers, img.mask = [], img.meta["annotation_source"]
        for where, row in g.rows:
            try:
                label = loc.label(row[label_col] if label_col else fixed, f"{where}: ")
                text = row[rle_col].strip()
                if text in empty_values:
                    img.empty += 1
                    continue
                runs = parse_runs(text, img.size, offsets, base, where)
                img.layers.append({"kind": "rle", "runs": runs, "order": order, "label": loc.index(label)})
                img.expected.append(label)
            except Bad as e:
                img.skips.append(ctx.skip(g.rel, e.reason, e.detail))
        yield from loc.finish(img)
