"""Hugging Face ``datasets`` Parquet with the image bytes embedded, one file per split,
plus a dataset card (``README.md``), so the folder loads with ``load_dataset(OUT)`` and can
be uploaded to a hub as it is.

Written with pyarrow alone (``datasets`` is an optional dependency) but in the layout
``datasets`` writes itself: the image column is the ``Image`` feature's struct
{bytes, path} and the schema carries the features under the ``huggingface`` metadata key.
List columns are declared as ``Sequence``, the one spelling every ``datasets`` from 2.x to
5.x reads (``List`` exists only from 4.0 on; 3.x fails with "Feature type 'List' not
found", and 4.x/5.x read ``Sequence`` of a plain value as ``List``).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from medmat.export.base import EXPORTERS, ExportContext
from medmat.export.card import write_card
from medmat.io import atomic_open
from medmat.records import VQAItem

_STR = {"dtype": "string", "_type": "Value"}
_INT = {"dtype": "int64", "_type": "Value"}
_LIST_STR = {"feature": _STR, "_type": "Sequence"}
COLUMNS: dict[str, dict] = {
    "item_id": _STR, "id": _INT, "image": {"_type": "Image"}, "question": _STR, "question_choice": _STR,
    "answer": _STR, "answer_choice": _STR, "options": _LIST_STR,
    "answer_index": _INT, "labels": _LIST_STR, "subset": _STR, "triplet": _STR,
    "split": _STR, "dataset": _STR, "data_no": _STR, "template": _INT, "image_hash": _STR,
}
"""The columns and their ``datasets`` features (the dataset card lists the same)."""
_FLOAT = {"dtype": "float64", "_type": "Value"}
LOCALISATION_COLUMNS: dict[str, dict] = {
    "kind": _STR, "option_boxes": {"feature": {"feature": _FLOAT, "_type": "Sequence"}, "_type": "Sequence"},
    "answer_box": {"feature": _FLOAT, "_type": "Sequence"}, "image_size": {"feature": _INT, "_type": "Sequence"},
}
"""Added when the selection holds localisation items (a classification export keeps COLUMNS)."""


def columns_for(items_by_split: dict[str, list[VQAItem]]) -> dict[str, dict]:
    """COLUMNS, plus LOCALISATION_COLUMNS when any selected item is not a classification item."""
    if any(it.kind != "choice" for items in items_by_split.values() for it in items):
        return {**COLUMNS, **LOCALISATION_COLUMNS}
    return COLUMNS


def _schema(columns: dict[str, dict]) -> Any:
    import pyarrow as pa

    img_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    types = {"id": pa.int64(), "answer_index": pa.int64(), "template": pa.int64(), "image": img_type,
             "options": pa.list_(pa.string()), "labels": pa.list_(pa.string()),
             "option_boxes": pa.list_(pa.list_(pa.float64())), "answer_box": pa.list_(pa.float64()),
             "image_size": pa.list_(pa.int64())}
    return pa.schema([(c, types.get(c, pa.string())) for c in columns],
                     metadata={"huggingface": json.dumps({"info": {"features": columns}}, sort_keys=True)})


def write_split(ctx: ExportContext, items: list[VQAItem], path: Path, columns: dict[str, dict] = COLUMNS) -> int:
    """One split's items as a Parquet file at ``path``; returns the table's in-memory bytes
    (the ``num_bytes`` a dataset card states)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list] = {c: [] for c in columns}
    for it in items:
        d = {**it.to_dict(), "kind": it.kind, "option_boxes": it.option_boxes, "answer_box": it.answer_box,
             "image_size": it.image_size}
        for c in columns:
            if c == "image":
                cols[c].append({"bytes": ctx.image_bytes(it), "path": PurePosixPath(it.image).name})
            else:
                cols[c].append(d[c])
    table = pa.table(cols, schema=_schema(columns))
    with atomic_open(path, "wb", encoding=None) as fh:
        pq.write_table(table, fh, compression="zstd", row_group_size=1000)
    return int(table.nbytes)


def write_parquet_dataset(ctx: ExportContext, root: Path) -> dict[str, str]:
    """``root/<split>.parquet`` per selected split + ``root/README.md``; returns split -> file name."""
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    columns = columns_for(ctx.selected())
    for split, items in ctx.selected().items():
        path = root / f"{split}.parquet"
        sizes[split] = write_split(ctx, items, path, columns)
        files[split] = path.name
        ctx.add(path)
    ctx.add(write_card(ctx, root, columns, files, sizes))
    return files


@EXPORTERS.register("parquet")
def export_parquet(ctx: ExportContext) -> None:
    write_parquet_dataset(ctx, ctx.out_dir)
    ctx.note(f"python -c \"import datasets; print(datasets.load_dataset('{ctx.out_dir.resolve()}'))\"")
