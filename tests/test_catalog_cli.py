"""``medmat catalog``: JSON outputs, filters, did-you-mean and validate exit codes."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from medmat.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["catalog", *args])


def as_json(*args):
    res = run(*args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_list_json_has_every_dataset_with_keys():
    rows = as_json("list")
    assert len(rows) == 109
    keys = {"id", "name", "modality", "area", "task", "subset", "status", "triplet", "kind", "flags"}
    assert all(keys <= set(r) for r in rows)
    kidney = next(r for r in rows if r["id"] == "ct-kidney-dataset")
    assert kidney["triplet"] == "CT/Kidney/Kidney Diseases Classification" and kidney["subset"] == "02"


@pytest.mark.parametrize(
    "args,check",
    [
        (["--modality", "US"], lambda r: r["modality"] == "Ultrasound"),
        (["--modality", "x-ray", "--area", "lungs"], lambda r: r["triplet"].startswith("X-ray/Lung/")),
        (["--area", "Teeth"], lambda r: r["area"] == "Mouth"),
        (["--task", "Normal or Cyst or Tumor"], lambda r: r["id"] == "ct-kidney-dataset"),
        (["--status", "TODO"], lambda r: r["status"] == "todo"),
        (["--subset", "31"], lambda r: r["subset"] == "31"),
        (["--flagged"], lambda r: r["flags"]),
    ],
)
def test_list_filters(args, check):
    rows = as_json("list", *args)
    assert rows and all(check(r) for r in rows)


def test_list_filter_counts():
    assert len(as_json("list", "--status", "todo")) == 22
    assert len(as_json("list", "--modality", "Ultrasound")) == 3
    assert len(as_json("list", "--area", "Mouth")) == 2


def test_list_unknown_filter_value_is_a_clean_error():
    res = run("list", "--modality", "Ultrasund")
    assert res.exit_code == 1
    assert "did you mean 'Ultrasound'" in res.stderr and "Traceback" not in res.output
    res = run("list", "--subset", "2")
    assert res.exit_code == 1 and "'02'" in res.stderr
    assert run("list", "--status", "done").exit_code == 1


def test_show_json_and_did_you_mean():
    d = as_json("show", "malignant-lymphoma-classification-oct")
    assert d["modality"] == "OCT" and d["table"]["row"] == 46
    assert any(f.startswith("wrong-link:") for f in d["flags"])
    assert {"layout", "labels", "source_url", "access", "licence", "qa_file_no", "multi_label", "notes"} <= set(d)
    s = as_json("show", "02")
    assert s["entry_type"] == "subset" and s["datasets"] == ["ct-kidney-dataset"]
    res = run("show", "ct-kidny")
    assert res.exit_code == 1 and "did you mean 'ct-kidney-dataset'" in res.stderr
    assert "Traceback" not in res.output
    human = run("show", "busi")
    assert human.exit_code == 0 and "Dataset_BUSI_with_GT" in human.stdout


def test_subsets_json():
    rows = as_json("subsets")
    assert len(rows) == 53
    keys = {"id", "modality", "area", "task", "triplet", "status", "kind", "datasets", "labels", "templates"}
    assert all(keys <= set(r) for r in rows)
    released = [r for r in rows if r["status"] == "released"]
    assert len(released) == 37 and all(len(r["templates"]) >= 6 for r in released)
    assert all(isinstance(t, str) for r in rows for t in r["templates"])
    assert len(as_json("subsets", "--modality", "FP")) == 8


def test_summary_json():
    s = as_json("summary")
    assert s["datasets"] == 109 and s["subsets"] == 53
    assert len(s["modalities"]) == 11 and sum(s["modalities"].values()) == 109
    assert s["status"] == {"released": 87, "todo": 22}
    assert s["subset_status"] == {"released": 37, "todo": 16}
    assert s["flags"]["duplicate-row"] == 2 and "wrong-link" in s["flags"]
    assert run("summary").exit_code == 0


def test_human_tables_render():
    res = run("list", "--subset", "02")
    assert res.exit_code == 0 and "ct-kidney-dataset" in res.stdout
    res = run("subsets", "--status", "todo")
    assert res.exit_code == 0 and "16 subset(s)" in res.stdout


def test_validate_builtin_and_user_files(tmp_path):
    res = run("validate")
    assert res.exit_code == 0 and "valid" in res.stdout
    good = tmp_path / "good.yaml"
    tpl = [f"Instruction {i}: what does this kidney CT show?" for i in range(6)]
    good.write_text(textwrap.dedent(f"""
        subsets:
          - {{id: my-kidney, triplet: CT/Kidney/Kidney Diseases Classification, templates: {json.dumps(tpl)}}}
        datasets:
          - {{id: mine, name: Mine, triplet: CT/Kidney/Kidney Diseases Classification, subset: my-kidney, labels: [A, B]}}
    """))
    out = as_json("validate", "--catalog", str(good))
    assert out["valid"] and out["datasets"] == 110 and out["subsets"] == 54 and out["from_user_files"] == 2
    rows = as_json("list", "--catalog", str(good), "--subset", "my-kidney")
    assert [r["id"] for r in rows] == ["mine"]


def test_validate_broken_user_catalog_exits_nonzero_naming_file_entry_field(tmp_path):
    bad = tmp_path / "my.yaml"
    bad.write_text(textwrap.dedent("""
        datasets:
          - {id: ok, name: OK, triplet: US/Breast/Breast Cancer, subset: "24"}
          - {id: a, name: A, triplet: US/Breast/Breast Cancer, subset: "24", layout: {type: class_folders, rot: x}}
          - {id: foo, name: Foo, modality: Ultrasund, area: Breast, task: Breast Cancer, subset: "24"}
          - {id: b, name: B, triplet: CT/Kidney/Kidney Diseases Classification, subset: "77"}
    """))
    res = run("validate", "--catalog", str(bad))
    assert res.exit_code == 1
    assert f"{bad}: datasets[2] (id 'foo'): modality: unknown modality 'Ultrasund'; did you mean 'Ultrasound'" in res.stderr
    assert f"{bad}: datasets[1] (id 'a'): layout.rot: unknown field 'rot'; did you mean 'root'?" in res.stderr
    assert f"{bad}: datasets[3] (id 'b'): subset: unknown subset '77'" in res.stderr
    assert "3 catalog error(s)" in res.stderr
    res = run("validate", "--catalog", str(bad), "--json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["valid"] is False and len(doc["errors"]) == 3
    assert {e["field"] for e in doc["errors"]} == {"modality", "layout.rot", "subset"}
    # every other command refuses an invalid catalog cleanly too
    res = run("list", "--catalog", str(bad))
    assert res.exit_code == 1 and "invalid" in res.stderr and "Traceback" not in res.output
