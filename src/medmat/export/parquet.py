"""Hugging Face ``datasets`` Parquet with the image bytes embedded, one file per split.

Written with pyarrow alone (``datasets`` is an optional dependency) but in the layout
``datasets`` writes itself: the image column is the ``Image`` feature's struct
{bytes, path} and the schema carries the features under the ``huggingface`` metadata key,
so ``load_dataset("parquet", data_files=...)`` decodes images without the store.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from medmat.export.base import EXPORTERS, ExportContext
from medmat.io import atomic_open

_STR = {"dtype": "string", "_type": "Value"}
_INT = {"dtype": "int64", "_type": "Value"}
COLUMNS: dict[str, dict] = {
    "item_id": _STR, "id": _INT, "image": {"_type": "Image"}, "question": _STR, "question_choice": _STR,
    "answer": _STR, "answer_choice": _STR, "options": {"feature": _STR, "_type": "List"},
    "answer_index": _INT, "labels": {"feature": _STR, "_type": "List"}, "subset": _STR, "triplet": _STR,
    "split": _STR, "dataset": _STR, "data_no": _STR, "template": _INT, "image_hash": _STR,
}


@EXPORTERS.register("parquet")
def export_parquet(ctx: ExportContext) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    img_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    types = {"id": pa.int64(), "answer_index": pa.int64(), "template": pa.int64(), "image": img_type,
             "options": pa.list_(pa.string()), "labels": pa.list_(pa.string())}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS],
                       metadata={"huggingface": json.dumps({"info": {"features": COLUMNS}}, sort_keys=True)})
    for split, items in ctx.selected().items():
        cols: dict[str, list] = {c: [] for c in COLUMNS}
        for it in items:
            d = it.to_dict()
            for c in COLUMNS:
                if c == "image":
                    cols[c].append({"bytes": ctx.image_bytes(it), "path": PurePosixPath(it.image).name})
                else:
                    cols[c].append(d[c])
        table = pa.table(cols, schema=schema)
        path = ctx.out_dir / f"{split}.parquet"
        with atomic_open(path, "wb", encoding=None) as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=1000)
        ctx.add(path)
