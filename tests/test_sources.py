"""Source readers: class folders, label tables, released Med-MAT json, path safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medmat.records import LabeledRecord, Skip
from medmat.sources import READERS, PathEscapesRoot, SourceError, read_dataset, safe_relpath


def _png(path: Path, value: int = 0, size=(8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


def _split(items):
    recs = [i for i in items if isinstance(i, LabeledRecord)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(recs) + len(skips) == len(items)
    return recs, skips


def test_registry_has_every_layout_type():
    from medmat.catalog.models import LAYOUT_TYPES

    assert READERS.names() == sorted(LAYOUT_TYPES)  # every catalog layout has its reader, and the reverse
    assert {"box_table", "coco", "voc", "yolo", "mask_pairs", "rle_table", "nifti_labels"} <= set(READERS.names())
    with pytest.raises(KeyError, match="did you mean 'class_folders'"):
        READERS.get("class_folder")


def test_safe_relpath(tmp_path):
    (tmp_path / "a").mkdir()
    assert safe_relpath(tmp_path, "a/./b/../c.png") == "a/c.png"
    assert safe_relpath(tmp_path, "a\\c.png") == "a/c.png"
    for bad in ("../x.png", "a/../../x.png", "/etc/passwd", "C:/x.png", ""):
        with pytest.raises(PathEscapesRoot):
            safe_relpath(tmp_path, bad)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "a" / "link").symlink_to(outside)
    with pytest.raises(PathEscapesRoot, match="outside"):
        safe_relpath(tmp_path, "a/link/x.png")


def test_class_folders_splits_aliases_and_skips(tmp_path):
    root = tmp_path / "ds"
    for split in ("train", "Validation", "test"):
        _png(root / split / "normal" / "a.png")
        _png(root / split / "Tumour" / "sub" / "b.jpg")
    (root / "train" / "normal" / "notes.txt").write_text("x")
    (root / "train" / "normal" / ".DS_Store").write_text("x")
    (root / "test" / "cyst").mkdir()
    (root / "train" / "stray.png").write_bytes(b"")
    _png(tmp_path / "secret.png")
    (root / "test" / "normal" / "leak.png").symlink_to(tmp_path / "secret.png")  # inside the data root: fine
    outside = tmp_path.parent / f"{tmp_path.name}-secret.png"
    _png(outside)
    (root / "test" / "normal" / "evil.png").symlink_to(outside)  # leaves the data root
    layout = {"type": "class_folders", "root": "ds"}
    items = list(read_dataset("kid", layout, tmp_path, labels=["Normal", "Tumor", "Cyst"],
                              label_aliases={"Tumour": "Tumor"}))
    recs, skips = _split(items)
    assert len(recs) == 7  # leak.png resolves inside the data root, so it is allowed
    assert {r.split for r in recs} == {"train", "val", "test"}
    assert {r.labels for r in recs} == {("Normal",), ("Tumor",)}
    assert all(r.id.startswith("kid:") and not Path(r.image).is_absolute() for r in recs)
    assert "ds/train/Tumour/sub/b.jpg" in {r.image for r in recs}
    reasons = sorted((s.reason, s.path) for s in skips)
    assert reasons == [("empty-class", "ds/test/cyst"), ("no-label", "ds/train/stray.png"),
                       ("not-an-image", "ds/train/normal/notes.txt"), ("path-escapes-root", "ds/test/normal/evil.png")]
    again = list(read_dataset("kid", layout, tmp_path, labels=["Normal", "Tumor", "Cyst"],
                              label_aliases={"Tumour": "Tumor"}))
    assert [i.to_dict() for i in again] == [i.to_dict() for i in items]  # deterministic
    assert [r.image for r in recs] == sorted(r.image for r in recs)
    assert len({r.id for r in recs}) == len(recs)


def test_unknown_label_names_closest(tmp_path):
    _png(tmp_path / "Normall" / "a.png")
    _png(tmp_path / "normal" / "b.png")
    recs, skips = _split(list(read_dataset("d", {"type": "class_folders"}, tmp_path, labels=["Normal", "Stone"])))
    assert [r.labels for r in recs] == [("Normal",)]  # case-folded to the canonical spelling
    assert skips[0].reason == "unknown-label" and "'Normal'" in skips[0].detail


def _table_fixture(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d", "e"):
        _png(tmp_path / "imgs" / f"{name}.png")


def test_table_single_label_split_group_and_bad_rows(tmp_path):
    _table_fixture(tmp_path)
    (tmp_path / "labels.csv").write_text(
        "file,dx,fold,patient\n"
        "b,Cyst,Training,p2\n"
        "a,Normal,test,p1\n"
        "missing,Normal,train,p3\n"
        "../../etc/passwd,Normal,train,p4\n"
        "c,Normal,holdout,p5\n"
        "d,,train,p6\n"
    )
    layout = {"type": "label_table", "table": "labels.csv", "image_column": "file", "label_column": "dx",
              "split_column": "fold", "group_column": "patient", "image_dir": "imgs", "image_suffix": ".png"}
    recs, skips = _split(list(read_dataset("t", layout, tmp_path)))
    assert [(r.image, r.labels, r.split, r.group) for r in recs] == [
        ("imgs/a.png", ("Normal",), "test", "p1"), ("imgs/b.png", ("Cyst",), "train", "p2")]
    assert sorted(s.reason for s in skips) == ["missing-file", "no-label", "path-escapes-root", "unknown-split"]


def test_table_one_hot_and_delimited(tmp_path):
    _table_fixture(tmp_path)
    (tmp_path / "onehot.tsv").write_text(
        "img\tEffusion\tMass\nimgs/a.png\t1\t0\nimgs/b.png\tyes\ttrue\nimgs/c.png\t0\t0\nimgs/d.png\tmaybe\t0\n")
    base = {"type": "label_table", "table": "onehot.tsv", "image_column": "img", "label_columns": ["Effusion", "Mass"]}
    recs, skips = _split(list(read_dataset("m", base, tmp_path)))
    assert [r.labels for r in recs] == [("Effusion",), ("Effusion", "Mass")]
    assert sorted(s.reason for s in skips) == ["bad-label-value", "no-label"]
    recs, _ = _split(list(read_dataset("m", {**base, "empty_label": "No Finding"}, tmp_path)))
    assert [r.labels for r in recs] == [("Effusion",), ("Effusion", "Mass"), ("No Finding",)]

    (tmp_path / "delim.csv").write_text('image,labels\nimgs/e.png,"Mass| Effusion |"\nimgs/a.png,Mass\n')
    layout = {"type": "label_table", "table": "delim.csv", "label_column": "labels", "label_delimiter": "|"}
    recs, _ = _split(list(read_dataset("m", layout, tmp_path)))
    assert [(r.image, r.labels) for r in recs] == [("imgs/a.png", ("Mass",)), ("imgs/e.png", ("Mass", "Effusion"))]


def test_table_duplicate_rows_are_recorded(tmp_path):
    _table_fixture(tmp_path)
    (tmp_path / "t.csv").write_text("image,label\nimgs/a.png,X\nimgs/a.png,X\nimgs/a.png,Y\n")
    recs, skips = _split(list(read_dataset("d", {"type": "label_table", "table": "t.csv", "label_column": "label"}, tmp_path)))
    assert len(recs) == 2 and len({r.id for r in recs}) == 2
    assert [s.reason for s in skips] == ["duplicate-record"]


@pytest.mark.parametrize("text,match", [
    ("image,label\nimgs/a.png,X,extra\n", r"t\.csv:2: expected 2 fields, got 3"),
    ('image,label\n"imgs/a.png,X\n', r"t\.csv:\d+: malformed table"),
    ("img,label\nimgs/a.png,X\n", "image_column 'image' is not a column; did you mean 'img'"),
    ("", "empty table"),
])
def test_malformed_table_is_a_clear_error(tmp_path, text, match):
    _table_fixture(tmp_path)
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(SourceError, match=match):
        list(read_dataset("d", {"type": "label_table", "table": "t.csv", "label_column": "label"}, tmp_path))


def _medmat_record(i: int, image: str, answer: str = "Cyst", letter: str = "B", **over) -> dict:
    rec = {
        "id": i, "caption": answer, "image": image, "Question": "What is shown?", "Answer": answer,
        "Question-choice": "What is shown?\nA: Stone\nB: Cyst\nC: Normal\nAnswer with the option's letter from the given choices directly.",
        "Answer-choice": letter, "data-no": "2",
    }
    rec.update(over)
    return rec


def test_medmat_json_validates_records(tmp_path):
    _png(tmp_path / "med-mat" / "x.png")
    _png(tmp_path / "med-mat" / "y.png")
    good = _medmat_record(1, "x.png")
    rows = [
        good,
        _medmat_record(2, "y.png", answer="Stone", letter="A"),
        _medmat_record(3, "x.png", letter="C"),  # letter names 'Normal', answer says Cyst
        _medmat_record(4, "x.png", letter="D"),  # no option D
        {k: v for k, v in good.items() if k != "data-no"},
        {**good, "extra": 1},
        _medmat_record(7, "../../secret.png"),
        _medmat_record(8, "gone.png"),
        "not an object",
    ]
    (tmp_path / "qa.json").write_text(json.dumps(rows))
    layout = {"type": "medmat_json", "file": "qa.json", "image_root": "med-mat"}
    recs, skips = _split(list(read_dataset("02", layout, tmp_path)))
    assert [(r.image, r.labels) for r in recs] == [("med-mat/x.png", ("Cyst",)), ("med-mat/y.png", ("Stone",))]
    assert recs[0].meta["medmat"]["options"] == ["Stone", "Cyst", "Normal"]
    assert recs[0].meta["medmat"]["answer_choice"] == "B" and recs[0].meta["medmat"]["data_no"] == "2"
    reasons = sorted((s.reason, s.detail.split(":")[0]) for s in skips)
    assert reasons == [
        ("malformed-record", "record 2"), ("malformed-record", "record 3"), ("malformed-record", "record 4"),
        ("malformed-record", "record 5"), ("malformed-record", "record 8"), ("missing-file", "record 7 (id 8)"),
        ("path-escapes-root", "record 6"),
    ]
    assert any("missing keys ['data-no']" in s.detail for s in skips)
    assert any("extra keys ['extra']" in s.detail for s in skips)


def test_medmat_json_malformed_file(tmp_path):
    (tmp_path / "qa.json").write_text('[\n  {"id": 1,\n  "caption": }\n]')
    with pytest.raises(SourceError, match=r"qa\.json: malformed JSON at line 3 column 14"):
        list(read_dataset("02", {"type": "medmat_json", "file": "qa.json"}, tmp_path))


def test_layout_errors(tmp_path):
    with pytest.raises(SourceError, match="not a folder"):
        list(read_dataset("d", {"type": "class_folders", "root": "nope"}, tmp_path))
    with pytest.raises(SourceError, match="did you mean 'nifti'"):
        list(read_dataset("d", {"type": "nifty"}, tmp_path))
    with pytest.raises(SourceError, match="no 'type'"):
        list(read_dataset("d", {}, tmp_path))
    with pytest.raises(PathEscapesRoot):
        list(read_dataset("d", {"type": "class_folders", "root": "../"}, tmp_path))
    os.symlink("/", tmp_path / "escape")
    with pytest.raises(PathEscapesRoot):
        list(read_dataset("d", {"type": "class_folders", "root": "escape"}, tmp_path))


def test_catalog_layout_models_are_accepted(tmp_path):
    """The catalog's pydantic layouts (attribute access, their defaults) drive the readers."""
    from medmat.catalog.models import ClassFoldersLayout, LabelTableLayout

    _png(tmp_path / "ds" / "tr" / "Normal" / "a.png")
    _png(tmp_path / "ds" / "te" / "Cyst" / "b.png")
    layout = ClassFoldersLayout(root="ds", split_dirs={"train": "tr", "test": "te"})
    recs, skips = _split(list(read_dataset("c", layout, tmp_path, labels=["Normal", "Cyst"])))
    assert [(r.image, r.split, r.labels) for r in recs] == [("ds/te/Cyst/b.png", "test", ("Cyst",)),
                                                          ("ds/tr/Normal/a.png", "train", ("Normal",))]
    (tmp_path / "ds" / "t.csv").write_text("image,label\nte/Cyst/b.png,cyst\n")
    table = LabelTableLayout(root="ds", table="t.csv", label_column="label")
    recs, _ = _split(list(read_dataset("c", table, tmp_path, labels=["Normal", "Cyst"])))
    assert [(r.image, r.labels) for r in recs] == [("ds/te/Cyst/b.png", ("Cyst",))]
