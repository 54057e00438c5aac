"""The built-in Med-MAT catalog: counts, subsets, templates and recorded table flags."""

import csv
from pathlib import Path

import pytest

from medmat.catalog import ClassFoldersLayout, DatasetEntry, LabelTableLayout, load_catalog
from medmat.mat import Triplet

# The two public Med-MAT tables (copied from the project's shared/reference) ship with the
# tests, so the catalog is always checked against them, on any machine.
REF = Path(__file__).resolve().parent / "data"
needs_ref = pytest.mark.skipif(not (REF / "medmat-datasets.tsv").is_file(), reason="public Med-MAT tables not present")


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_counts(cat):
    ds = list(cat.datasets.values())
    assert len(ds) == 109
    assert sum(d.status == "released" and d.kind == "classification" for d in ds) == 87
    assert sum(d.status == "todo" for d in ds) == 22
    assert all(d.kind != "classification" for d in ds if d.status == "todo")
    subs = list(cat.subsets.values())
    assert len(subs) == 53
    assert sorted(cat.subsets) == [f"{i:02d}" for i in range(1, 54)]
    assert sum(s.status == "released" for s in subs) == 37
    assert all(s.kind == "classification" for s in subs if s.status == "released")
    assert all(s.kind != "classification" for s in subs if s.status == "todo")


def test_eleven_modalities_used(cat):
    used = {d.modality for d in cat.datasets.values()} | {s.modality for s in cat.subsets.values()}
    assert len(used) == 11
    assert used == set(cat.vocab.names("modality"))


def test_every_classification_subset_has_six_distinct_templates(cat):
    for sid, s in cat.subsets.items():
        tpl = cat.templates(sid)
        if s.kind == "classification":
            assert len({t.casefold() for t in tpl}) >= 6, sid
            assert all("\n" not in t and not t.rstrip().endswith(("A:", "Answer")) for t in tpl), sid
    # templates differ between subsets (no copy-paste of one list everywhere)
    firsts = {cat.templates(s)[0] for s in cat.subsets if cat.subsets[s].kind == "classification"}
    assert len(firsts) >= 30


def test_datasets_share_their_subset_triplet_or_are_flagged(cat):
    for d in cat.datasets.values():
        s = cat.subset_of(d.id)
        assert d.id in s.datasets
        if d.triplet != s.triplet:
            assert any(c.endswith("-mismatch") for c in d.flag_codes), d.id
    assert cat.dataset("busi-seg").area == "Breast" and cat.subset("43").area == "Chest"
    # every subset is fed by at least one dataset
    assert all(s.datasets for s in cat.subsets.values())


@needs_ref
def test_every_public_row_is_in_the_catalog(cat):
    rows = list(csv.DictReader((REF / "medmat-datasets.tsv").open(), delimiter="\t"))
    by_row = {d.table.row: d for d in cat.datasets.values() if d.table and d.table.row}
    assert len(rows) == 109
    for r in rows:
        if not r["row"]:
            continue
        d = by_row[int(r["row"])]
        assert d.name == r["name"] and d.source_url == r["source_url"]
        assert d.table.task == r["task"]
        assert d.modality == cat.vocab.normalize("modality", r["modality"])
        assert (d.qa_file_no or "") == r["qa_file_no"]


@needs_ref
def test_subset_table_normalises_to_catalog(cat):
    for r in csv.DictReader((REF / "medmat-subsets.tsv").open(), delimiter="\t"):
        s = cat.subsets[r["subset_no"]]
        assert s.triplet == Triplet.of(r["modality"], r["area"], r["task"])
        assert s.status == r["qa_status"].lower()
    assert {sid for sid, s in cat.subsets.items() if s.multi_label} == {"15", "20", "31", "33", "37"}


def test_ids_are_unique_slugs_even_for_duplicate_names(cat):
    names = [d.name for d in cat.datasets.values()]
    assert names.count("Malignant Lymphoma Classification") == 2
    assert names.count("BUSI") == 2
    assert len(set(cat.datasets)) == 109
    assert "ct-kidney-dataset" in cat.datasets


def test_flags_for_public_table_problems(cat):
    codes = lambda i: cat.dataset(i).flag_codes  # noqa: E731
    lymph = [d for d in cat.datasets.values() if d.name == "Malignant Lymphoma Classification"]
    assert all("duplicate-row" in d.flag_codes for d in lymph)
    row46 = next(d for d in lymph if d.table.row == 46)
    assert row46.modality == "OCT" and "wrong-link" in row46.flag_codes
    assert "wrong-link" in codes("bone-fracture-multi-region-x-ray")
    assert "missing-row-number" in codes("covidgr")
    assert "shared-url" in codes("isic-2017-task-3") and "shared-url" in codes("isic-2018-task-3")
    assert "area-spelling" in codes("dental-condition-dataset")
    assert "modality-spelling" in codes("busi-seg")
    assert "modality-spelling" in codes("mias")
    assert "wrong-task" in codes("uw-madison-gi-tract")
    assert "typo" in codes("ct-kidney-dataset")
    assert "area-mismatch" in cat.subset("43").flag_codes
    # legitimate classification + segmentation pairs are not flagged as duplicates
    for did in ("isbi-2016", "sicapv2", "busi", "nlm-tb", "vindr-spinexr", "vindr-pcxr", "chestx-det"):
        assert "duplicate-row" not in codes(did)
    # every flag has a message after its code
    for d in cat.datasets.values():
        for f in d.flags:
            code, msg = f.split(": ", 1)
            assert code and len(msg) > 10


def test_known_labels_and_layouts(cat):
    kidney = cat.dataset("ct-kidney-dataset")
    assert set(kidney.labels) == {"Normal", "Cyst", "Tumor", "Stone"}
    assert isinstance(kidney.layout, ClassFoldersLayout)
    assert set(cat.subset("02").labels) == {"Normal", "Cyst", "Tumor", "Stone"}
    nih = cat.dataset("chestxray-nihcc")
    assert nih.multi_label and isinstance(nih.layout, LabelTableLayout) and nih.layout.label_delimiter == "|"
    # unknown labels are null and say so in notes
    for d in cat.datasets.values():
        if d.kind == "classification" and d.labels is None:
            assert d.notes and "null" in d.notes, d.id
        if d.kind != "classification":  # localisation rows: no released QA; unknown labels say so
            assert d.qa_file_no is None
            assert d.labels is not None or (d.notes and "labels left null" in d.notes.lower()), d.id


def test_subset_rationale_where_public_task_differs(cat):
    for d in cat.datasets.values():
        if d.table and d.status == "released":
            same = d.table.task.casefold() == d.task.casefold()
            try:
                same = same or cat.vocab.normalize("task", d.table.task) == d.task
            except ValueError:
                pass
            if not same:
                assert d.subset_rationale or d.flags, d.id


def test_entry_round_trip_and_triplet_shorthand(cat):
    d = cat.dataset("busi")
    raw = {k: v for k, v in d.model_dump().items() if k not in ("modality", "area", "task")}
    again = DatasetEntry.model_validate({**raw, "triplet": "US/breast/Breast Cancer"})
    assert again == d
    assert d.to_dict()["triplet"] == "Ultrasound/Breast/Breast Cancer Classification"


def test_load_is_deterministic(cat):
    a, b = load_catalog(), load_catalog()
    assert [x.to_dict() for x in a.datasets.values()] == [x.to_dict() for x in b.datasets.values()]
    a.datasets.pop("busi")
    assert "busi" in load_catalog().datasets  # callers get their own dicts


def test_unknown_ids_suggest_close_names(cat):
    with pytest.raises(KeyError, match="did you mean 'busi'"):
        cat.dataset("busy")
    with pytest.raises(KeyError, match="did you mean '02'"):
        cat.templates("2")
