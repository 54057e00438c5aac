"""The dataset card (``README.md``) of a Parquet export: YAML metadata + a short text.

The YAML is what ``datasets`` and a dataset hub read: ``configs`` (one ``default`` config,
a split per Parquet file), ``dataset_info.features`` (with ``sequence:`` for list columns,
which ``datasets`` 3.x, 4.x and 5.x all read), ``license`` and ``task_categories``. The
text names every source dataset with the licence and access terms medmat's built-in
catalog records for it, because the images keep their sources' terms: several forbid
redistribution, so a public upload needs each source's permission.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from medmat.export.base import ExportContext
from medmat.io import write_text

_DTYPES = {"string": "string", "int64": "int64", "float64": "float64"}


def _sequence(name: str, feat: dict) -> Any:
    """The card spelling of a Sequence feature's element: a dtype, or ``{sequence: ...}`` nested."""
    inner = feat["feature"]
    if inner["_type"] == "Sequence":
        return {"sequence": _sequence(name, inner)}
    if inner["_type"] == "Value":
        return _DTYPES[inner["dtype"]]
    raise ValueError(f"column {name!r}: no dataset-card spelling for a sequence of {inner['_type']!r}")


def card_features(columns: dict[str, dict]) -> list[dict[str, Any]]:
    """``dataset_info.features`` rows for ``columns`` (the Parquet exporter's features)."""
    rows: list[dict[str, Any]] = []
    for name, feat in columns.items():
        kind = feat["_type"]
        if kind == "Image":
            rows.append({"name": name, "dtype": "image"})
        elif kind == "Sequence":
            rows.append({"name": name, "sequence": _sequence(name, feat)})
        elif kind == "Value":
            rows.append({"name": name, "dtype": _DTYPES[feat["dtype"]]})
        else:  # a new column type must be mapped here, not silently dropped
            raise ValueError(f"column {name!r}: no dataset-card spelling for feature type {kind!r}")
    return rows


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def source_rows(dataset_ids: list[str]) -> list[dict[str, str]]:
    """id, name, licence, access and URL of each source dataset, from the built-in catalog."""
    from medmat.catalog import load_catalog

    known = load_catalog().datasets
    rows = []
    for did in sorted(dataset_ids):
        e = known.get(did)
        if e is None:
            rows.append({"id": did, "name": did, "licence": "not in medmat's built-in catalog: state it yourself",
                         "access": "", "url": ""})
        else:
            rows.append({"id": did, "name": e.name, "licence": e.licence, "access": e.access or "",
                         "url": e.source_url or ""})
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def card_text(ctx: ExportContext, columns: dict[str, dict], files: dict[str, str], sizes: dict[str, int]) -> str:
    """The card of the Parquet files ``files`` (split -> file name) with ``columns`` features."""
    selected = ctx.selected()
    name = ctx.options.name or "medmat"
    n_total = sum(len(v) for v in selected.values())
    meta = {
        "pretty_name": f"{name} (Med-MAT multiple-choice VQA, exported by medmat)",
        "license": "other",
        "license_name": "per-source",
        "license_details": "Each image keeps the licence of its source dataset (table in this card).",
        "task_categories": ["visual-question-answering"],
        "language": ["en"],
        "tags": ["medical", "multiple-choice", "med-mat"],
        "size_categories": [_size_category(n_total)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f} for s, f in files.items()]}],
        "dataset_info": {
            "features": card_features(columns),
            "splits": [{"name": s, "num_bytes": sizes[s], "num_examples": len(selected[s])} for s in files],
        },
    }
    counts: Counter[tuple[str, str, str]] = Counter()
    for split, items in selected.items():
        for it in items:
            counts[(it.subset, it.triplet, split)] += 1
    subsets = sorted({(s, t) for s, t, _ in counts})
    splits = list(files)
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000).rstrip(), "---", "",
             f"# {name}", "",
             "Med-MAT single-choice medical VQA items (one image, a question, lettered options, the letter",
             "as answer), exported from a medmat VQA store. Images are embedded in the Parquet files.", "",
             "```python", "import datasets", "ds = datasets.load_dataset(\"PATH/TO/THIS/FOLDER\")  # or a hub repo id",
             "ds[\"test\"][0][\"image\"]  # a PIL image", "```", "",
             "`question_choice` is the Med-MAT prompt (question, options `A: ...`, answer instruction) and",
             "`answer_choice` its letter; `question`/`options`/`answer` hold the same item unformatted.", "",
             "## Subsets", "", "| subset | triplet (modality/area/task) | " + " | ".join(splits) + " |",
             "|---|---|" + "---|" * len(splits)]
    for sid, trip in subsets:
        lines.append(f"| {_cell(sid)} | {_cell(trip)} | " +
                     " | ".join(str(counts[(sid, trip, s)]) for s in splits) + " |")
    datasets = sorted({it.dataset for items in selected.values() for it in items})
    lines += ["", "## Sources and licences", "",
              "The images come from these datasets and stay under their terms. Several forbid",
              "redistribution: check each source before uploading this folder anywhere public.", "",
              "| dataset | name | licence | access | source |", "|---|---|---|---|---|"]
    for r in source_rows(datasets):
        lines.append(f"| {_cell(r['id'])} | {_cell(r['name'])} | {_cell(r['licence'])} | {_cell(r['access'])} | "
                     f"{_cell(r['url'])} |")
    lines += ["", "## Provenance", "",
              f"- store fingerprint (sha256 of items.jsonl): `{ctx.store.fingerprint()}`",
              f"- medmat: {ctx.store.meta.get('medmat', 'unknown')}, store seed {ctx.store.meta.get('seed', 0)}",
              f"- selection: split={ctx.options.split}, subsets={ctx.options.subsets or 'all'}, "
              f"capped={ctx.options.capped}", ""]
    return "\n".join(lines)


def write_card(ctx: ExportContext, root: Path, columns: dict[str, dict], files: dict[str, str],
               sizes: dict[str, int]) -> Path:
    path = root / "README.md"
    write_text(path, card_text(ctx, columns, files, sizes))
    return path
