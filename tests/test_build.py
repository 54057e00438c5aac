"""`medmat build`: end to end from PNG class folders, resumability, determinism, --strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.records import LabeledRecord
from medmat.store import VQAStore
from helpers.build import class_folders, fake_materialize, fake_reader

runner = CliRunner()
TRIPLET = "CT/Lung/COVID-19 Classification"


def _adhoc(raw: Path, store: Path, *extra: str):
    return runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(raw), "--triplet", TRIPLET,
                               "--dataset-id", "my-ds", "--out", str(store), "--json", *extra])


def _text(res) -> str:
    return " ".join(res.output.split())  # rich wraps long lines


def _files(store: Path) -> dict[str, bytes]:
    return {n: (store / n).read_bytes() for n in ("items.jsonl", "store.json", "summary.json", "skips.jsonl")}


def test_adhoc_build_end_to_end_and_byte_identical(tmp_path, monkeypatch):
    raw = class_folders(tmp_path / "raw", {"covid": 20, "normal": 20})
    res = _adhoc(raw, tmp_path / "s1")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["totals"]["read"] == 40 == out["totals"]["written"] + out["totals"]["skipped"]
    store = VQAStore(tmp_path / "s1")
    items = store.items()
    assert len(items) == 40 and all(it.n_options == 2 for it in items)  # 2-label subset -> 2 options
    assert {it.split for it in items} == {"train", "test"}
    assert sum(it.split == "test" for it in items) == 4  # stratified 9:1: 2 per label
    assert all(store.image_path(it).is_file() for it in items)
    info = store.subsets()["my-ds"]
    assert info.triplet == TRIPLET and sorted(info.labels) == ["covid", "normal"]
    # a second build into a fresh folder gives the same bytes
    assert _adhoc(raw, tmp_path / "s2").exit_code == 0
    assert _files(tmp_path / "s1") == _files(tmp_path / "s2")
    # a re-run in place reuses stage 1 and still writes identical files
    before = _files(tmp_path / "s1")
    res = _adhoc(raw, tmp_path / "s1")
    assert json.loads(res.stdout)["reused"] == ["my-ds"]
    assert _files(tmp_path / "s1") == before


def test_input_change_invalidates_stage1(tmp_path, monkeypatch):
    raw = class_folders(tmp_path / "raw", {"covid": 5, "normal": 5})
    _adhoc(raw, tmp_path / "s")
    from helpers.build import png
    png(raw / "covid" / "new.png", 999)
    out = json.loads(_adhoc(raw, tmp_path / "s").stdout)
    assert out["reused"] == [] and out["totals"]["written"] == 11


def test_strict_fails_on_skips_after_writing(tmp_path, monkeypatch):
    raw = class_folders(tmp_path / "raw", {"covid": 5, "normal": 5})
    (raw / "covid" / "broken.png").write_bytes(b"\x89PNG not really")
    res = _adhoc(raw, tmp_path / "s", "--strict")
    assert res.exit_code == 1
    skips = [json.loads(line) for line in (tmp_path / "s" / "skips.jsonl").read_text().splitlines()]
    assert len(skips) == 1 and skips[0]["path"].endswith("broken.png") and skips[0]["reason"]
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    d = summary["datasets"]["my-ds"]
    assert d["read"] == 11 and d["written"] == 10 and d["skipped"] == 1
    assert _adhoc(raw, tmp_path / "s").exit_code == 0  # without --strict the same input passes


def test_adhoc_errors_are_clean(tmp_path):
    res = runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(tmp_path / "nope"),
                              "--triplet", TRIPLET, "--dataset-id", "x", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "does not exist" in _text(res) and "Traceback" not in res.output
    res = runner.invoke(app, ["build", "--layout", "class_folders", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "--root" in _text(res)
    (tmp_path / "r").mkdir()
    res = runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(tmp_path / "r"),
                              "--triplet", "nonsense", "--dataset-id", "x", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "triplet" in _text(res)
    res = runner.invoke(app, ["build", "--layout", "class_folders", "--root", str(tmp_path / "r"),
                              "--triplet", TRIPLET, "--dataset-id", "../evil", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "slug" in _text(res) and not (tmp_path / "evil.jsonl").exists()


def _user_catalog(tmp_path: Path) -> Path:
    import yaml

    tpl = [f"Which finding does this chest CT show ({i})?" for i in range(6)]
    doc = {
        "subsets": [{"id": "u-lung", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
                     "labels": ["covid", "normal", "cancer"], "templates": tpl}],
        "datasets": [
            {"id": "ds-a", "name": "A", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
             "subset": "u-lung", "labels": ["covid", "normal"],
             "layout": {"type": "class_folders", "root": "a", "split_dirs": {"train": "tr", "test": "te"}}},
            {"id": "ds-b", "name": "B", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
             "subset": "u-lung", "labels": ["cancer", "normal"], "layout": {"type": "class_folders", "root": "b"}},
            {"id": "ds-todo", "name": "T", "modality": "CT", "area": "Lung", "task": "COVID-19 Classification",
             "subset": "u-lung", "status": "todo"},
        ],
    }
    p = tmp_path / "user.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_user_catalog_build_merges_datasets_into_subset(tmp_path, monkeypatch):
    data = tmp_path / "data"
    class_folders(data / "a", {"covid": 10, "normal": 10}, split_dirs={"train": "tr", "test": "te"})
    class_folders(data / "b", {"cancer": 10, "normal": 10}, seed0=100)
    cat = _user_catalog(tmp_path)
    res = runner.invoke(app, ["build", "--catalog", str(cat), "--data-root", str(data), "--out",
                              str(tmp_path / "s"), "ds-a", "ds-b", "--json", "--cap", "30"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["subsets"]["u-lung"]["cap"] == {"train": sum(out["subsets"]["u-lung"]["items"].values())
                                               - out["subsets"]["u-lung"]["items"]["test"], "kept": 30}
    store = VQAStore(tmp_path / "s")
    items = store.items("u-lung")
    assert {it.dataset for it in items} == {"ds-a", "ds-b"} and all(it.n_options == 3 for it in items)
    assert all(it.question in store.meta["subsets"][0]["templates"] for it in items)
    # ds-a keeps its own split folders: test = files i % 5 == 0 -> 2 per label
    assert sum(1 for it in items if it.dataset == "ds-a" and it.split == "test") == 4
    assert json.loads((tmp_path / "s" / "store.json").read_text())["cap"] == 30
    res = runner.invoke(app, ["build", "--catalog", str(cat), "--data-root", str(data), "--out",
                              str(tmp_path / "s3"), "--all", "--json"])  # built-ins: input missing -> left out
    assert res.exit_code == 0, res.output
    assert sorted(json.loads(res.stdout)["datasets"]) == ["ds-a", "ds-b"]
    assert "not built (input missing" not in res.stderr  # --all with a user catalog: only its datasets
    res = runner.invoke(app, ["build", "--catalog", str(cat), "--data-root", str(data), "--out",
                              str(tmp_path / "s2"), "ds-todo"])
    assert res.exit_code == 1 and "ds-todo" in _text(res) and "status todo" in _text(res)


def test_interrupted_build_leaves_no_half_written_files(tmp_path):
    from medmat.catalog.models import ClassFoldersLayout
    from medmat.build import BuildSettings, DatasetJob, build_store
    from medmat.vqa import SubsetSpec
    from helpers.build import fake_materialize, fake_reader

    raw = class_folders(tmp_path / "raw", {"covid": 6, "normal": 6, "rare": 1})
    jobs = [DatasetJob("d1", "s", ClassFoldersLayout(root="."))]
    spec = [SubsetSpec("s", TRIPLET, [], ["T?"] * 1, datasets=["d1"])]

    def dying(records, *a, **k):
        fake_materialize(records[:3], *a, **k)  # some images written, then killed
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_store(jobs, spec, raw, tmp_path / "s", BuildSettings(), reader=fake_reader, materializer=dying)
    left = sorted(p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*")
                  if p.is_file() and not p.name.endswith(".png"))
    assert left == []  # no records/, items.jsonl, store.json: nothing that looks finished
    summary, results = build_store(jobs, spec, raw, tmp_path / "s", BuildSettings(), reader=fake_reader,
                                   materializer=fake_materialize)
    assert not results["d1"].reused and summary["totals"]["items"] == 13
    assert any("'rare' only in train" in w for w in summary["warnings"])
    assert VQAStore(tmp_path / "s").subsets()["s"].labels == ["covid", "normal", "rare"]  # from the records


def test_builtin_catalog_dataset_in_its_own_folder(tmp_path, monkeypatch):
    inner = "CT-KIDNEY-DATASET-Normal-Cyst-Tumor-Stone/CT-KIDNEY-DATASET-Normal-Cyst-Tumor-Stone"
    class_folders(tmp_path / "data" / "ct-kidney-dataset" / inner, {"Normal": 4, "Cyst": 4, "Tumor": 4, "Stone": 4})
    res = runner.invoke(app, ["build", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "s"),
                              "ct-kidney-dataset", "--json"])
    assert res.exit_code == 0, res.output
    items = VQAStore(tmp_path / "s").items()
    assert len(items) == 16 and {it.subset for it in items} == {"02"}
    assert all(it.n_options == 4 and it.data_no == "2" for it in items)
    assert items[0].triplet == "CT/Kidney/Kidney Diseases Classification"
    from medmat.catalog import load_catalog

    assert {it.question for it in items} <= set(load_catalog().templates("02"))


def test_fake_io_conserves_counts(tmp_path):
    raw = class_folders(tmp_path / "raw", {"a": 2, "b": 1})
    (raw / "a" / "bad.png").write_bytes(b"not a png")
    from medmat.catalog.models import ClassFoldersLayout

    got = list(fake_reader("d", ClassFoldersLayout(root="."), raw))
    recs, skips = fake_materialize([r for r in got if isinstance(r, LabeledRecord)], raw, tmp_path / "s")
    assert len(recs) == 3 and [s.reason for s in skips] == ["corrupt-image"]
