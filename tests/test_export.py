"""Every exporter, loaded the way its tool loads it: the real `datasets` for the HF formats
(TRL's image cast included), mirrors of VLMEvalKit and lmms-eval (tests/helpers/export_*_mirror.py,
each naming the release it follows), and the documented loader rules of LLaVA, LLaMA-Factory and
ms-swift. benchmarks/compat/ runs the real tools that install on a CPU machine in their own venvs."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.export import EXPORTERS, ExportOptions, export_store
from medmat.store import VQAStore
from helpers.build import small_store
from helpers import export_lmms_mirror, export_vlmevalkit_mirror

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return small_store(tmp_path_factory.mktemp("exp"))


def _open(path: str, base: Path) -> Image.Image:
    p = Path(path)
    return Image.open(p if p.is_absolute() else base / p)


def check_trl(out: Path, st: VQAStore, **_):
    import datasets

    ds = datasets.load_dataset("json", data_files={"train": str(out / "train.jsonl"), "test": str(out / "test.jsonl")})
    row = ds["train"][0]
    user, assistant = row["messages"]
    assert user["role"] == "user" and [p["type"] for p in user["content"]] == ["image", "text"]
    item = st.by_id()[row["item_id"]]
    assert user["content"][1]["text"] == item.question_choice and assistant["content"][0]["text"] == item.answer_choice
    _open(row["images"][0], out).load()
    assert len(ds["train"]) + len(ds["test"]) == len(st.items())
    with contextlib.chdir(out):  # relative paths (--copy-images) resolve against the working directory
        pil = ds["test"].cast_column("images", datasets.List(datasets.Image()))  # as TRL's VLM docs do
        assert all(isinstance(im, Image.Image) for im in pil[0]["images"])


def check_llava(out: Path, st: VQAStore, image_folder: Path | None = None, **_):
    data = json.loads((out / "train.json").read_text())
    assert isinstance(data, list) and data
    for row in data:  # LLaVA's LazySupervisedDataset: image joined to image_folder, <image> once in turn 1
        conv = row["conversations"]
        assert [c["from"] for c in conv] == ["human", "gpt"] and conv[0]["value"].count("<image>") == 1
        assert conv[0]["value"].startswith("<image>\n") and conv[1]["value"] in "ABCD"
        Image.open(os.path.join(str(image_folder or out), row["image"])).load()


def check_sharegpt(out: Path, st: VQAStore, **_):
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"medmat_train", "medmat_test"}
    for name, entry in info.items():  # LLaMA-Factory's dataset_info -> converter checks
        assert entry["formatting"] == "sharegpt"
        rows = json.loads((out / entry["file_name"]).read_text())
        tags, cols = entry["tags"], entry["columns"]
        for row in rows:
            msgs = row[cols["messages"]]
            roles = [m[tags["role_tag"]] for m in msgs]
            assert roles == [tags["user_tag"], tags["assistant_tag"]]
            n_tok = sum(m[tags["content_tag"]].count("<image>") for m in msgs)
            assert n_tok == len(row[cols["images"]]) == 1
            _open(row[cols["images"]][0], out).load()  # media_dir defaults to dataset_dir
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / info["medmat_test"]["file_name"]))
    assert ds["train"].num_rows == len(st.items(split="test"))


def check_swift(out: Path, st: VQAStore, **_):
    import datasets

    ds = datasets.load_dataset("json", data_files=str(out / "train.jsonl"))["train"]
    for row in ds:
        assert row["messages"][0]["content"].count("<image>") == len(row["images"]) == 1
        assert row["messages"][1]["role"] == "assistant"
    _open(ds[0]["images"][0], out).load()


def check_parquet(out: Path, st: VQAStore, tmp: Path, **_):
    import datasets

    moved = tmp / "moved"
    moved.mkdir()
    shutil.copy(out / "test.parquet", moved / "test.parquet")
    shutil.rmtree(st.root)  # the parquet must not need the store
    try:
        ds = datasets.load_dataset("parquet", data_files={"test": str(moved / "test.parquet")})["test"]
        assert isinstance(ds.features["image"], datasets.Image)
        img = ds[0]["image"]
        assert isinstance(img, Image.Image) and img.size == (32, 32)
        assert ds[0]["options"][ds[0]["answer_index"]] == ds[0]["answer"]
        card = datasets.load_dataset(str(out))  # the folder itself: README.md configs + features
        assert set(card) == {"train", "test"} and card["test"][0]["item_id"] == ds[0]["item_id"]
        assert isinstance(card["train"][0]["image"], Image.Image)
    finally:
        pass


def check_vlmevalkit(out: Path, st: VQAStore, **_):
    import pandas as pd

    (tsv,) = out.glob("medmat_test_*.tsv")
    with _env("LMUData", str(out)):
        ds = export_vlmevalkit_mirror.build_dataset(tsv.stem)
    df = ds.data
    assert list(df.columns[:11]) == ["index", "image", "image_path", "question", "A", "B", "C", "D", "answer",
                                     "category", "l2-category"]
    by_id = st.by_id()
    for _, row in df.iterrows():
        Image.open(io.BytesIO(base64.b64decode(row["image"]))).load()
        assert isinstance(row[row["answer"]], str)  # the answer's option is filled
        assert pd.isna(row["D"])  # 3-label subset: D empty
        assert (row["category"], row["l2-category"], row["split"]) == ("s1", "CT/Lung/COVID-19 Classification", "test")
        assert row["medmat_prompt"] == by_id[row["item_id"]].question_choice


@contextlib.contextmanager
def _env(key: str, value: str):
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


def check_lmms(out: Path, st: VQAStore, **_):
    (task,) = export_lmms_mirror.TaskManager(out).load("medmat")
    docs = list(task.docs)
    assert len(docs) == len(st.items(split="test"))
    doc = docs[0]
    assert isinstance(task.doc_to_visual(doc)[0], Image.Image)
    assert task.doc_to_text(doc) == st.by_id()[doc["item_id"]].question_choice
    assert task.score([task.doc_to_target(d) for d in docs])["accuracy"] == 1.0


def check_medmat(out: Path, st: VQAStore, **_):
    from medmat.records import MEDMAT_KEYS
    from medmat.sources.medmat_json import MedMatRecord  # the importer's strict validator

    rows = json.loads((out / "s1_test.json").read_text())
    assert len(rows) == len(st.items(split="test"))
    for row in rows:
        assert tuple(row) == MEDMAT_KEYS
        MedMatRecord.model_validate(row)
        _open(row["image"], out).load()


CHECKS = {"trl": check_trl, "llava": check_llava, "sharegpt": check_sharegpt, "swift": check_swift,
          "parquet": check_parquet, "vlmevalkit": check_vlmevalkit, "lmms-eval": check_lmms, "medmat": check_medmat}


def test_every_exporter_has_a_loader_check():
    assert set(EXPORTERS.names()) == set(CHECKS)


@pytest.mark.parametrize("fmt", sorted(CHECKS))
def test_exporter_loads(fmt, tmp_path):
    st_root = small_store(tmp_path / "b")
    st = VQAStore(st_root)
    res = runner.invoke(app, ["export", str(st_root), "--format", fmt, "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    assert all(Path(f).is_file() for f in json.loads(res.stdout)["files"])
    CHECKS[fmt](tmp_path / "out", st, tmp=tmp_path)


@pytest.mark.parametrize("fmt", ["llava", "sharegpt", "swift", "medmat"])
def test_copy_images_is_relocatable(fmt, store, tmp_path):
    export_store(store, fmt, tmp_path / "o", ExportOptions(split="all", copy_images=True))
    shutil.move(str(tmp_path / "o"), str(tmp_path / "moved"))
    text = "".join(p.read_text() for p in (tmp_path / "moved").glob("*.json*"))
    assert str(store) not in text
    CHECKS[fmt](tmp_path / "moved", VQAStore(store))


def test_trl_prompt_completion_and_filters(store, tmp_path):
    import datasets

    files = export_store(store, "trl", tmp_path, ExportOptions(split="test", trl_style="prompt-completion"))
    assert [f.name for f in files] == ["test.jsonl"]
    ds = datasets.load_dataset("json", data_files=str(files[0]))["train"]
    assert set(ds.column_names) >= {"prompt", "completion", "images"}
    assert ds[0]["completion"][0]["content"][0]["text"] in "ABC"
    with pytest.raises(ValueError, match="not in the store"):
        export_store(store, "trl", tmp_path / "x", ExportOptions(subsets=("nope",)))
    files = export_store(store, "llava", tmp_path / "cap", ExportOptions(split="train", capped=True))
    assert len(json.loads(files[0].read_text())) == len(VQAStore(store).items(split="train"))  # cap 3000 > n


def test_exports_are_byte_identical(store, tmp_path):
    for fmt in sorted(CHECKS):
        a = export_store(store, fmt, tmp_path / "a" / fmt)
        b = export_store(store, fmt, tmp_path / "b" / fmt)
        assert [x.read_bytes() for x in a] == [y.read_bytes() for y in b], fmt


def test_export_cli_errors(store, tmp_path):
    res = runner.invoke(app, ["export", str(store), "--format", "lava", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "did you mean 'llava'" in res.output
    res = runner.invoke(app, ["export", str(tmp_path), "--format", "llava", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "not a medmat VQA store" in " ".join(res.output.split())


def test_medmat_export_round_trips_through_import(store, tmp_path):
    export_store(store, "medmat", tmp_path / "o", ExportOptions(split="test", copy_images=True))
    res = runner.invoke(app, ["import-medmat", str(tmp_path / "o" / "s1_test.json"), "--image-root",
                              str(tmp_path / "o"), "--out", str(tmp_path / "imp"), "--subset-id", "03",
                              "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    before = {it.id: it for it in VQAStore(store).items(split="test")}
    after = VQAStore(tmp_path / "imp").items()
    assert len(after) == len(before)
    for it in after:
        assert (it.question_choice, it.answer_choice, it.options) == (
            before[it.id].question_choice, before[it.id].answer_choice, before[it.id].options)
