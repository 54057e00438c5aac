"""The Parquet export as a dataset folder: readable by `datasets` 3.x to 5.x, with a dataset card.

The suite runs this machine's `datasets` (5.x); benchmarks/compat/run.sh loads the same
export with 3.x and 4.x in their own venvs. The 3.x check here is a mirror: the feature
types and card keys 3.6.0 knows (``datasets/features/features.py`` ``_FEATURE_TYPES``,
``datasets/info.py`` card ``dataset_info``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from helpers.export_store import two_subset_store
from medmat.export import ExportConfig, export_store
from medmat.store import VQAStore

DATASETS_3_FEATURE_TYPES = {"Value", "ClassLabel", "Translation", "TranslationVariableLanguages", "LargeList",
                            "Sequence", "Array2D", "Array3D", "Array4D", "Array5D", "Audio", "Image", "Video", "Pdf"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pq")
    store = two_subset_store(root)
    export_store(store, "parquet", root / "out", ExportConfig(name="kidney-toy"))
    return store, root / "out"


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _types(feature: dict) -> set[str]:
    out = {feature["_type"]} if "_type" in feature else set()
    for v in feature.values():
        if isinstance(v, dict):
            out |= _types(v)
    return out


def test_features_are_ones_datasets_3_knows(exported):
    import pyarrow.parquet as pq

    _, out = exported
    meta = json.loads(pq.read_schema(out / "test.parquet").metadata[b"huggingface"])
    used = set().union(*(_types(f) for f in meta["info"]["features"].values()))
    assert used <= DATASETS_3_FEATURE_TYPES, used - DATASETS_3_FEATURE_TYPES
    assert "Sequence" in used  # the list columns, spelled the 3.x way


def test_card_configs_features_licences(exported):
    import datasets

    store, out = exported
    meta = _front_matter(out / "README.md")
    assert meta["task_categories"] == ["visual-question-answering"] and meta["license"] == "other"
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "test", "path": "test.parquet"},
                                                                         {"split": "train", "path": "train.parquet"}]}]
    feats = {f["name"]: f for f in meta["dataset_info"]["features"]}
    assert feats["image"] == {"name": "image", "dtype": "image"}
    assert feats["options"] == {"name": "options", "sequence": "string"}
    st = VQAStore(store)
    splits = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert splits == {"test": len(st.items(split="test")), "train": len(st.items(split="train"))}
    text = (out / "README.md").read_text(encoding="utf-8")
    assert "| ct-kidney-dataset | CT Kindney Dataset | see source | Kaggle account |" in text
    assert "| my-own | my-own | not in medmat's built-in catalog: state it yourself |" in text
    assert "| s-2 | X-ray/Chest/Toy Classification | 4 | 28 |" in text and "# kidney-toy" in text
    ds = datasets.load_dataset(str(out))
    assert ds["train"].features["options"] == datasets.Features.from_dict(
        {"o": {"_type": "Sequence", "feature": {"_type": "Value", "dtype": "string"}}})["o"]
    row = ds["test"][0]
    assert isinstance(row["image"], Image.Image) and row["item_id"] in st.by_id()
    assert len(ds["test"]) == splits["test"]


def test_card_refuses_an_unknown_feature_type():
    from medmat.export.card import card_features

    with pytest.raises(ValueError, match="no dataset-card spelling"):
        card_features({"x": {"_type": "Array2D", "shape": [2, 2], "dtype": "int8"}})
