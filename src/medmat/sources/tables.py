"""Reader for label tables (CSV/TSV): single-label, one-hot multi-label, delimited multi-label.

The table is data somebody typed or exported: its rows are validated one by one (missing
image -> skip, no positive label -> skip or the layout's ``empty_label``), while a table
that cannot be parsed at all is a clear error naming the file and line.

Paths: ``table`` is relative to the layout ``root``; an image is
``root/image_dir/<image_column value><image_suffix>``. The delimiter follows the extension
(.tsv/.tab: tab, .csv: comma, else sniffed) unless the layout sets ``delimiter``.
One-hot values 1/true/yes are positive, 0/false/no/empty and CheXpert's -1 (uncertain) are
not; anything else is Skip('bad-label-value'). ``empty_label`` names the label of a row with
no positive column ('No Finding'); without it such a row is Skip('no-label').
"""

from __future__ import annotations

import csv
import difflib
import posixpath
from pathlib import Path
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import (
    Entry, PathEscapesRoot, ReaderContext, SourceError, is_file, lget, normalize_split, safe_relpath,
)

TRUE_VALUES = frozenset({"1", "1.0", "true", "yes", "y", "t", "positive", "pos"})
# '-1' is CheXpert's "uncertain": not a positive finding, by documented policy.
FALSE_VALUES = frozenset({"0", "0.0", "false", "no", "n", "f", "", "-1", "-1.0", "negative", "neg", "nan"})


def _delimiter(path: Path, layout: Any, sample: str) -> str:
    explicit = lget(layout, "delimiter", None)
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def read_table(path: Path, layout: Any = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and rows (with their 1-based line numbers); raises SourceError naming file:line."""
    if not path.is_file():
        raise SourceError(f"label table {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(f"{path}: not UTF-8 text (byte {e.start}); is this really a table?") from None
    delim = _delimiter(path, layout, text[:4096])
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delim, strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    try:
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [h.strip() for h in fields]
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes:
                    raise SourceError(f"{path}:{line}: duplicate column names {dupes}")
                continue
            if len(fields) != len(header):
                raise SourceError(f"{path}:{line}: expected {len(header)} fields, got {len(fields)}")
            rows.append((line, dict(zip(header, (f.strip() for f in fields)))))
    except csv.Error as e:
        raise SourceError(f"{path}:{reader.line_num}: malformed table: {e}") from None
    if header is None:
        raise SourceError(f"{path}: empty table (no header line)")
    return header, rows


def _need_column(path: Path, header: list[str], name: str | None, what: str) -> None:
    if name and name not in header:
        close = difflib.get_close_matches(name, header, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SourceError(f"{path}: {what} {name!r} is not a column{hint} (columns: {', '.join(header)})")


need_column = _need_column  # shared with the localisation tables


def _row_labels(row: dict[str, str], layout: Any) -> tuple[str, ...] | str:
    """The raw labels of a row, or an error text for Skip('bad-label-value')."""
    columns = lget(layout, "label_columns", None)
    if columns:
        out = []
        for col in columns:
            value = row[col].strip().lower()
            if value in TRUE_VALUES:
                out.append(col)
            elif value not in FALSE_VALUES:
                return f"column {col!r} has {row[col]!r}; expected 1/0/true/false/yes/no"
        empty = lget(layout, "empty_label", None)
        return tuple(out) if out else ((empty,) if empty else ())
    raw = row[lget(layout, "label_column")]
    delim = lget(layout, "label_delimiter", None)
    parts = raw.split(delim) if delim else [raw]
    return tuple(p.strip() for p in parts if p.strip())


def iter_table_entries(ctx: ReaderContext, layout: Any) -> Iterator[Entry | Skip]:
    """Rows of the layout's table as Entries, sorted by image path (then table line)."""
    root_rel = safe_relpath(ctx.data_root, lget(layout, "root", ".") or ".")
    table_rel = lget(layout, "table", None)
    if not table_rel:
        raise SourceError(f"dataset {ctx.dataset_id}: label_table layout needs a 'table'")
    path = ctx.data_root / safe_relpath(ctx.data_root, posixpath.join(root_rel, table_rel))
    header, rows = read_table(path, layout)
    image_col = lget(layout, "image_column", "image")
    _need_column(path, header, image_col, "image_column")
    if lget(layout, "label_columns", None):
        for col in lget(layout, "label_columns"):
            _need_column(path, header, col, "label column")
    elif lget(layout, "label_column", None):
        _need_column(path, header, lget(layout, "label_column"), "label_column")
    else:
        raise SourceError(f"dataset {ctx.dataset_id}: the table layout names neither label_column nor label_columns")
    split_col, group_col = lget(layout, "split_column", None), lget(layout, "group_column", None)
    _need_column(path, header, split_col, "split_column")
    _need_column(path, header, group_col, "group_column")
    image_dir, suffix = lget(layout, "image_dir", "") or "", lget(layout, "image_suffix", "") or ""

    out: list[tuple[str, int, Entry | Skip]] = []
    for line, row in rows:
        where = f"{path.name}:{line}"
        raw_image = row[image_col]
        joined = posixpath.join(root_rel, image_dir, raw_image.replace("\\", "/") + suffix) if raw_image else ""
        try:
            if not raw_image or raw_image.startswith(("/", "\\")):
                raise PathEscapesRoot(f"{raw_image!r} is absolute or empty")
            rel = safe_relpath(ctx.data_root, joined)
        except PathEscapesRoot as e:
            out.append((joined, line, ctx.skip(raw_image or where, "path-escapes-root", f"{where}: {e}")))
            continue
        if not is_file(ctx.data_root / rel):
            out.append((rel, line, ctx.skip(rel, "missing-file", f"{where}: image file not found")))
            continue
        labels = _row_labels(row, layout)
        if isinstance(labels, str):
            out.append((rel, line, ctx.skip(rel, "bad-label-value", f"{where}: {labels}")))
            continue
        if not labels:
            out.append((rel, line, ctx.skip(rel, "no-label", f"{where}: no positive label and no empty_label")))
            continue
        try:
            split = normalize_split(row[split_col]) if split_col else None
        except KeyError:
            out.append((rel, line, ctx.skip(rel, "unknown-split", f"{where}: split {row[split_col]!r}")))
            continue
        group = (row[group_col] or None) if group_col else None
        meta = {"label_source": "table", "table_line": line}
        out.append((rel, line, Entry(relpath=rel, raw_labels=labels, split=split, group=group, meta=meta)))
    out.sort(key=lambda t: (t[0], t[1]))
    for _, _, item in out:
        yield item


def read_label_table(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    for entry in iter_table_entries(ctx, layout):
        yield entry if isinstance(entry, Skip) else ctx.make_records(entry)
