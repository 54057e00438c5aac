"""User catalogs laid over the built-in one: additions, overrides and validation errors."""

import textwrap

import pytest

from medmat.catalog import (
    CatalogError,
    ClassFoldersLayout,
    DicomLayout,
    LabelTableLayout,
    NiftiLayout,
    load_catalog,
    validate_catalog,
)

TEMPLATES = [f"Template number {i} about this foot photograph: what does it show?" for i in range(6)]


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


VALID = """
vocabulary:
  modalities: [{name: Thermography, aliases: [thermal]}]
  areas: [Foot]
  tasks: [{name: Diabetic Foot Ulcer Classification, family: Disease}]
subsets:
  - id: foot-ulcer
    modality: thermal
    area: Foot
    task: Diabetic Foot Ulcer Classification
    kind: classification
    templates: %s
datasets:
  - id: my-foot-thermo
    name: My foot thermograms
    modality: Thermography
    area: foot
    task: Diabetic Foot Ulcer Classification
    subset: foot-ulcer
    labels: [Ulcer, Healthy]
    label_aliases: {ulcer: Ulcer, control: Healthy}
    layout: {type: class_folders, root: images, split_dirs: {train: tr, test: te}}
  - id: my-kidney-ct
    name: Extra kidney CT
    triplet: CT/renal/Normal or Cyst or Tumor
    subset: "02"
    labels: [Normal, Cyst, Tumor, Stone, Cancer]
    layout: {type: label_table, table: labels.csv, image_column: file, label_column: diagnosis}
""" % TEMPLATES


def test_valid_user_catalog_adds_dataset_and_subset(tmp_path):
    cat = load_catalog([write(tmp_path, "my.yaml", VALID)])
    assert len(cat.datasets) == 111 and len(cat.subsets) == 54
    s = cat.subset("foot-ulcer")
    assert str(s.triplet) == "Thermography/Foot/Diabetic Foot Ulcer Classification"
    assert s.datasets == ["my-foot-thermo"] and s.labels == ["Ulcer", "Healthy"]
    assert cat.templates("foot-ulcer") == TEMPLATES
    d = cat.dataset("my-foot-thermo")
    assert isinstance(d.layout, ClassFoldersLayout) and d.layout.split_dirs == {"train": "tr", "test": "te"}
    assert cat.subset_of("my-foot-thermo").id == "foot-ulcer"
    assert "my-kidney-ct" in cat.subset("02").datasets and "Cancer" in cat.subset("02").labels
    assert cat.origins["dataset:my-foot-thermo"].endswith("my.yaml")
    assert cat.vocab.normalize("modality", "thermal") == "Thermography"
    # the built-in catalog is untouched by a user layer
    assert "my-foot-thermo" not in load_catalog().datasets


def test_broken_user_catalog_reports_every_error_with_file_entry_field(tmp_path):
    bad = write(tmp_path, "bad.yaml", """
    subsets:
      - {id: few, modality: CT, area: Lung, task: Lung Cancer Classification, templates: [a, b, c]}
      - {id: badarea, modality: CT, area: Lunng, task: Lung Cancer Classification, kind: segmentation}
    datasets:
      - {id: foo, name: Foo, modality: Ultrasund, area: Breast, task: Breast Cancer, subset: "24"}
      - {id: bar, name: Bar, triplet: CT/Kidney/Kidney Diseases Classification, subset: "99"}
      - {id: busi, name: Again, triplet: US/Breast/Breast Cancer, subset: "24"}
      - {id: tbl, name: T, triplet: US/Breast/Breast Cancer, subset: "24", layout: {type: label_table, image_column: f, label_column: y}}
      - {id: typo, name: T, triplet: US/Breast/Breast Cancer, subset: "24", layout: {type: class_folders, rot: x}}
      - {id: ghost, name: G, triplet: US/Breast/Breast Cancer, subset: "24", override: true}
      - {id: intsub, name: I, triplet: CT/Kidney/Kidney Diseases Classification, subset: 02}
      - {id: wrongtrip, name: W, triplet: CT/Lung/COVID-19, subset: "24"}
      - {id: foo, name: Foo again, triplet: US/Breast/Breast Cancer, subset: "24"}
      - not-a-mapping
    """)
    with pytest.raises(CatalogError) as exc:
        load_catalog([bad])
    errors = exc.value.errors
    text = [str(e) for e in errors]
    assert all(e.file == str(bad) for e in errors)

    def has(entry, field, words):
        return any(e.entry == entry and e.field == field and words in e.message for e in errors)

    assert f"{bad}: datasets[0] (id 'foo'): modality: unknown modality 'Ultrasund'; did you mean 'Ultrasound'" in "\n".join(text)
    assert has("subsets[0] (id 'few')", "templates", "at least 6")
    assert has("subsets[1] (id 'badarea')", "area", "did you mean 'Lung'")
    assert has("datasets[1] (id 'bar')", "subset", "unknown subset '99'")
    assert has("datasets[2] (id 'busi')", "id", "override: true")
    assert has("datasets[3] (id 'tbl')", "layout", "table")
    assert has("datasets[4] (id 'typo')", "layout.rot", "unknown field")
    assert has("datasets[5] (id 'ghost')", "override", "no earlier dataset")
    assert has("datasets[6] (id 'intsub')", "subset", "'02' in quotes")
    assert has("datasets[7] (id 'wrongtrip')", "subset", "differs from subset 24")
    assert has("datasets[8] (id 'foo')", "id", "same file")
    assert any(e.entry == "datasets[9]" and "mapping" in e.message for e in errors)
    assert len(errors) >= 12
    assert validate_catalog([bad]) == errors


def test_override_semantics(tmp_path):
    first = write(tmp_path, "a.yaml", """
    datasets:
      - {id: busi, name: BUSI relabelled, triplet: US/Breast/Breast Cancer, subset: "24", labels: [Benign, Malignant], override: true}
    subsets:
      - {id: "02", triplet: CT/Kidney/Kidney Diseases Classification, override: true, notes: mine}
    """)
    cat = load_catalog([first])
    assert cat.dataset("busi").name == "BUSI relabelled" and cat.subset("24").labels == ["Benign", "Malignant"]
    assert cat.subset("02").notes == "mine"
    assert cat.templates("02") == load_catalog().templates("02")  # inherited when not given
    assert cat.subset("02").datasets == ["ct-kidney-dataset"]
    # a second file overrides the first one, again only with override: true
    second = write(tmp_path, "b.yaml", """
    datasets:
      - {id: busi, name: third, triplet: US/Breast/Breast Cancer, subset: "24", override: true}
    """)
    assert load_catalog([first, second]).dataset("busi").name == "third"
    third = write(tmp_path, "c.yaml", """
    datasets:
      - {id: busi, name: clash, triplet: US/Breast/Breast Cancer, subset: "24"}
    """)
    errs = validate_catalog([first, third])
    assert len(errs) == 1 and str(first) in errs[0].message and errs[0].file == str(third)


def test_file_level_errors(tmp_path):
    missing = tmp_path / "nope.yaml"
    broken = write(tmp_path, "broken.yaml", "datasets: [ {id: x\n")
    odd = write(tmp_path, "odd.yaml", "dataset: []\nvocabulary: {modalities: [{name: CT, aliases: [MRI]}]}\n")
    errs = validate_catalog([missing, broken, odd])
    msgs = [str(e) for e in errs]
    assert any(str(missing) in m and "no such" in m for m in msgs)
    assert any(str(broken) in m and "malformed YAML" in m and "line" in m for m in msgs)
    assert any(e.file == str(odd) and e.field == "dataset" and "unknown top-level key" in e.message for e in errs)
    assert any(e.file == str(odd) and e.entry == "vocabulary" for e in errs)


def test_templates_section_in_user_file(tmp_path):
    p = write(tmp_path, "t.yaml", """
    subsets:
      - {id: s1, triplet: CT/Lung/Lung Cancer Classification}
    templates:
      s1: %s
      nowhere: [x]
    """ % TEMPLATES)
    errs = validate_catalog([p])
    assert [e.entry for e in errs] == ["templates['nowhere']"]
    p.write_text(p.read_text().replace("  nowhere: [x]\n", ""))
    assert load_catalog([p]).templates("s1") == TEMPLATES


def test_duplicate_template_and_flag_format(tmp_path):
    p = write(tmp_path, "d.yaml", """
    subsets:
      - id: s1
        triplet: CT/Lung/Lung Cancer Classification
        templates: [one, two, three, four, five, One]
        flags: [no code here]
    """)
    errs = validate_catalog([p])
    assert {e.field for e in errs} == {"templates", "flags"}
    assert any("duplicate template" in e.message for e in errs)


@pytest.mark.parametrize(
    "layout,cls,ok",
    [
        ({"type": "label_table", "table": "a.csv", "label_columns": ["A", "B"]}, LabelTableLayout, True),
        ({"type": "label_table", "table": "a.csv", "label_column": "y", "label_columns": ["A"]}, LabelTableLayout, False),
        ({"type": "label_table", "table": "a.csv", "label_columns": ["A"], "label_delimiter": "|"}, LabelTableLayout, False),
        ({"type": "dicom", "root": "dcm"}, DicomLayout, True),
        ({"type": "dicom", "label_from": "table"}, DicomLayout, False),
        ({"type": "dicom", "label_from": "table", "table": "t.csv", "label_column": "y", "window": [40, 400]}, DicomLayout, True),
        ({"type": "nifti", "axis": 1, "percentile": [1, 99]}, NiftiLayout, True),
        ({"type": "nifti", "percentile": [99, 1]}, NiftiLayout, False),
        ({"type": "nifti", "window": [40, 400], "percentile": [1, 99]}, NiftiLayout, False),
        ({"type": "class_folders", "split_dirs": {"training": "tr"}}, ClassFoldersLayout, False),
        ({"type": "medmat_json"}, None, False),
        ({"type": "zip"}, None, False),
    ],
)
def test_layout_validation(tmp_path, layout, cls, ok):
    import yaml

    entry = {"id": "x", "name": "X", "triplet": "CT/Kidney/Kidney Diseases Classification", "subset": "02", "layout": layout}
    p = tmp_path / "l.yaml"
    p.write_text(yaml.safe_dump({"datasets": [entry]}))
    errs = validate_catalog([p])
    if ok:
        assert errs == [] and isinstance(load_catalog([p]).dataset("x").layout, cls)
    else:
        assert errs and all(e.field and e.field.startswith("layout") for e in errs)


def test_nifti_window_switches_percentile_off():
    assert NiftiLayout(window=(40, 400)).percentile is None
    assert NiftiLayout().percentile == (0.5, 99.5) and NiftiLayout().window is None


def test_class_folder_defaults():
    lay = ClassFoldersLayout(extensions=["PNG", ".Jpg"])
    assert lay.root == "." and lay.split_dirs == {} and lay.extensions == [".png", ".jpg"]
    assert ".png" in ClassFoldersLayout().extensions
