"""The catalog's localisation rows (issue 11): each of the 22 has a layout or says why none is
possible, `medmat catalog validate` checks the new layout types, and every built-in
localisation layout reads a download laid out as it describes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from helpers.fuzz_localisation import picture, rect_mask, rle_encode
from helpers.fuzz_seeds import dicom_bytes
from medmat.catalog import load_catalog, validate_catalog
from medmat.catalog.models import LOCALISATION_LAYOUTS
from medmat.imaging import materialize
from medmat.records import LabeledRecord
from medmat.sources import read_dataset

CAT = load_catalog()
TODO = sorted(d for d, e in CAT.datasets.items() if e.status == "todo")


def test_every_todo_row_has_a_layout_or_says_why_not():
    assert len(TODO) == 22
    with_layout = [d for d in TODO if CAT.datasets[d].layout is not None]
    for d in TODO:
        e = CAT.datasets[d]
        assert e.kind in ("detection", "segmentation")
        if e.layout is None:
            assert e.notes.startswith("No layout: "), d
        else:
            assert e.layout.type in LOCALISATION_LAYOUTS
            assert e.notes.startswith("Layout from the public description, unverified"), d
    assert len(with_layout) >= 16
    assert {CAT.datasets[d].layout.type for d in with_layout} >= {"mask_pairs", "rle_table", "box_table"}


def _fill(pattern: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], pattern).replace("*", "w").replace("?", "q")


def _mask_pairs_download(root: Path, layout) -> None:
    values = {"split": "train", "id": "img_7", "cls": "x"}
    for m in layout.masks:
        if m.label and m.label.startswith("{"):
            values[m.label.strip("{}")] = "malignant"
    size = (32, 24)
    image = root / _fill(layout.image_pattern, values)
    picture(image, size, 1, "JPEG" if image.suffix == ".jpg" else None)
    for i, m in enumerate(layout.masks):
        arr = rect_mask(size, [(2 + 3 * i, 2 + 2 * i, 20 + i, 18 + i, 255)])
        path = root / _fill(m.pattern, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - arr if m.invert else arr).save(path)


def _table_download(root: Path, entry) -> None:
    """One image and its annotation rows, in the columns the layout names."""
    lay = entry.layout
    size = (40, 30)
    if entry.id == "uw-madison-gi-tract":
        picture(root / "train/case7/case7_day3/scans/slice_0012_40_30_1.50_1.50.png", size, 2)
        mask = rect_mask(size, [(5, 6, 20, 25, 1)])
        (root / "train.csv").write_text(f"id,class,segmentation\ncase7_day3_slice_0012,stomach,{rle_encode(mask, 'row-major')}\n"
                                        "case7_day3_slice_0012,small_bowel,\ncase7_day3_slice_0012,large_bowel,\n")
        return
    image_dir = {"vindr-spinexr-det": "train_images", "vindr-pcxr-det": "train", "siim-acr-pneumothorax": "dicom-images-train/s/r"}
    ext = ".dcm" if entry.id == "siim-acr-pneumothorax" else ".dicom"
    path = root / image_dir[entry.id] / f"1.2.9{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes((np.arange(30 * 40).reshape(30, 40) % 200).astype(np.uint8)))
    if lay.type == "rle_table":
        mask = rect_mask(size, [(5, 6, 20, 25, 1)])
        (root / lay.table).write_text(f"{lay.image_column},{lay.rle_column}\n1.2.9,{rle_encode(mask, lay.rle_order, relative=True)}\n")
        return
    cols = ",".join([lay.image_column, lay.label_column, *lay.box_columns])
    label = "Osteophytes" if entry.labels else "Some finding"
    for split, table in lay.split_tables.items():
        (root / table).parent.mkdir(parents=True, exist_ok=True)
        rows = f"1.2.9,{label},5,6,20,25\n" if split == "train" else ""
        extra = f",{lay.group_column}" if lay.group_column else ""
        text = f"{cols}{extra}\n" + "".join(r.rstrip("\n") + (",st1" if lay.group_column else "") + "\n" for r in rows.splitlines(True))
        (root / table).write_text(text)


@pytest.mark.parametrize("did", [d for d in TODO if CAT.datasets[d].layout is not None])
def test_catalog_layout_reads_a_download_laid_out_as_described(tmp_path, did):
    entry = CAT.datasets[did]
    root = tmp_path / did
    if entry.layout.type == "mask_pairs":
        _mask_pairs_download(root, entry.layout)
    else:
        _table_download(root, entry)
    items = list(read_dataset(did, entry.layout, root, labels=entry.labels, label_aliases=entry.label_aliases))
    recs = [i for i in items if isinstance(i, LabeledRecord)]
    assert len(recs) == 1 and len(items) == 1, items
    out, skips = materialize(recs, root, tmp_path / "store")
    assert not skips and out[0].boxes, skips
    assert all(lab in (entry.labels or [lab]) for lab in out[0].labels)


BASE = {"id": "x", "name": "X", "triplet": "Der/Skin/Lesion Det/Seg", "subset": "38", "kind": "segmentation", "status": "todo",
        "labels": ["Lesion", "No finding"]}


@pytest.mark.parametrize("layout,field,message", [
    ({"type": "rle_table", "table": "t.csv", "label": "Lesion"}, "layout.rle_order", "required"),
    ({"type": "rle_table", "table": "t.csv", "label": "Lesion", "label_column": "c", "rle_order": "row-major"},
     "layout", "exactly one of 'label_column' or 'label'"),
    ({"type": "mask_pairs", "image_pattern": "i/{id}.png", "masks": [{"pattern": "m/{id}.png", "label": "Lesion",
                                                                      "values": {1: "Lesion"}}]},
     "layout.masks.0", "exactly one of 'label'"),
    ({"type": "mask_pairs", "image_pattern": "i/{id}.png", "masks": [{"pattern": "m/{id}.png", "values": {0: "Lesion"}}]},
     "layout.masks.0", "0 is the background"),
    ({"type": "mask_pairs", "image_pattern": "../i/{id}.png", "masks": [{"pattern": "m/{id}.png", "label": "Lesion"}]},
     "layout.image_pattern", "not a file pattern"),
    ({"type": "mask_pairs", "image_pattern": "i/{id}.png", "masks": [{"pattern": "m/{id}_{cls}.png", "label": "Lesion"}]},
     "layout", "may only use placeholders"),
    ({"type": "mask_pairs", "image_pattern": "i/{id}.png", "masks": [{"pattern": "m/{id}.png", "label": "Tumour"}]},
     None, "labels ['Tumour']"),
    ({"type": "box_table", "table": "t.csv", "image_regex": "(?P<a>x)"}, "layout", "image_regex needs an image_pattern"),
    ({"type": "box_table", "table": "t.csv", "box_columns": ["a", "b", "c"]}, "layout.box_columns", "at least 4"),
    ({"type": "coco", "file": "a.json", "split_files": {"train": "b.json"}}, "layout", "exactly one of 'file'"),
    ({"type": "yolo", "image_pattern": "i/{id}.png", "label_pattern": "l/{id}.txt"}, "layout", "exactly one of 'classes'"),
    ({"type": "nifti_labels", "image_pattern": "i/{id}.nii", "label_pattern": "l/{id}.nii", "values": {1: "Lesion"},
      "slice_policy": "sideways"}, "layout.slice_policy", "slice_policy must be"),
    ({"type": "class_folders"}, None, "cannot use a class_folders layout"),
])
def test_validate_names_the_problem(tmp_path, layout, field, message):
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump({"datasets": [{**BASE, "layout": layout}]}))
    issues = validate_catalog([path])
    assert issues and any(message in i.message and (field is None or i.field == field) for i in issues), issues


def test_a_classification_entry_cannot_use_a_localisation_layout(tmp_path):
    path = tmp_path / "user.yaml"
    entry = {**BASE, "triplet": "CT/Kidney/Kidney Diseases Classification", "subset": "02", "kind": "classification",
             "layout": {"type": "box_table", "table": "t.csv"}}
    path.write_text(yaml.safe_dump({"datasets": [entry]}))
    assert any("cannot use a box_table layout" in i.message for i in validate_catalog([path]))


def test_also_feeds_links_a_localisation_dataset_to_a_classification_subset(tmp_path):
    good = {**BASE, "id": "lesions", "layout": {"type": "mask_pairs", "image_pattern": "i/{id}.png",
                                                "masks": [{"pattern": "m/{id}.png", "label": "Lesion"}]},
            "also_feeds": ["07"]}
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump({"datasets": [good]}))
    cat = load_catalog([path])
    assert cat.subset("07").fed_by == ["lesions"] and "lesions" not in cat.subset("07").datasets
    for feeds, message in [(["99"], "unknown subset"), (["39"], "only a detection/segmentation dataset can also feed"),
                           (["02"], "is CT/Kidney"), (["38"], "already the dataset's subset")]:
        path.write_text(yaml.safe_dump({"datasets": [{**good, "also_feeds": feeds}]}))
        assert any(i.field == "also_feeds" and message in i.message for i in validate_catalog([path])), feeds
