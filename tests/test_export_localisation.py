"""Stores with localisation subsets: store.json records each subset's builder, and every
export carries box-choice as ordinary choice questions and grounding in each tool's form."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from medmat.boxes import iou, parse_box, resized_size
from medmat.build import BuildSettings, DatasetJob, build_store
from medmat.catalog.models import ClassFoldersLayout
from medmat.export import ExportConfig, run_export
from medmat.io import read_jsonl
from medmat.records import LabeledRecord
from medmat.store import VQAStore
from medmat.vqa import SubsetSpec

from helpers.build import png

W, H = 96, 64


def _reader(dataset_id, layout, data_root, labels=None, label_aliases=None):
    for i, f in enumerate(sorted((Path(data_root) / dataset_id).glob("*.png"))):
        boxes = (("polyp", 10.0 + i, 8.0, 40.0 + i, 30.0),) if i % 4 else ()
        yield LabeledRecord(hashlib.sha256(f"{dataset_id}{i}".encode()).hexdigest()[:16], dataset_id,
                            f.relative_to(data_root).as_posix(), ("polyp",) if boxes else ("normal",), boxes=boxes)


def _materialize(records, data_root, store_root, max_side=None, fmt="auto", workers=1, progress=None):
    out = []
    for r in records:
        data = (Path(data_root) / r.image).read_bytes()
        h = hashlib.sha256(data).hexdigest()
        rel = f"images/{h}.png"
        (Path(store_root) / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(data_root) / r.image, Path(store_root) / rel)
        out.append(LabeledRecord(r.id, r.dataset, rel, r.labels, r.split, r.group,
                                 {"image_hash": h, "width": W, "height": H}, r.boxes))
    return out, []


def loc_store(tmp_path: Path, builders: dict[str, str] | None = None) -> Path:
    """Subset 'bc' (box-choice, 24 images) and 'gr' (grounding, 24 images) of one finding."""
    raw = tmp_path / "raw"
    for k, ds in enumerate(("ds-bc", "ds-gr")):
        for i in range(24):
            png(raw / ds / f"{i:02d}.png", 100 * k + i, size=W)
    templates = [f"Variant {i}: where is the {{finding}}?" for i in range(6)]
    specs = [SubsetSpec("bc", "End/Intestine/PolyP Det/Seg", ["polyp", "normal"], templates, datasets=["ds-bc"],
                        builder="box-choice"),
             SubsetSpec("gr", "End/Intestine/Polyp Grounding", ["polyp", "normal"], templates, datasets=["ds-gr"],
                        builder="grounding")]
    jobs = [DatasetJob(ds, sid, ClassFoldersLayout(root=ds)) for ds, sid in (("ds-bc", "bc"), ("ds-gr", "gr"))]
    store = tmp_path / "store"
    build_store(jobs, specs, raw, store, BuildSettings(seed=0, builders=builders or {}), reader=_reader,
                materializer=_materialize)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return loc_store(tmp_path_factory.mktemp("loc"))


def test_store_records_builders_and_skips(store, tmp_path):
    meta = json.loads((store / "store.json").read_text())
    assert {s["id"]: s.get("builder") for s in meta["subsets"]} == {"bc": "box-choice", "gr": "grounding"}
    summary = json.loads((store / "summary.json").read_text())
    assert summary["subsets"]["bc"]["builder"] == "box-choice" and summary["subsets"]["gr"]["letters"] == {}
    kinds = {it.kind for it in VQAStore(store).items()}
    assert kinds == {"box-choice", "grounding"}
    skips = list(read_jsonl(store / "skips.jsonl"))
    assert {s["reason"] for s in skips} == {"no-box"} and len(skips) == 12  # every 4th image has no finding
    again = loc_store(tmp_path)  # a second build gives the same bytes
    assert (again / "items.jsonl").read_bytes() == (store / "items.jsonl").read_bytes()
    swapped = loc_store(tmp_path / "swapped", builders={"bc": "presence"})
    assert {it.kind for it in VQAStore(swapped).items("bc")} == {"choice"}
    with pytest.raises(ValueError, match="does not make"):
        loc_store(tmp_path / "bad", builders={"zz": "grounding"})
    with pytest.raises(ValueError, match="question builder"):
        BuildSettings(builders={"bc": "boxes"})


def test_classification_stores_do_not_mention_builders(tmp_path):
    from helpers.build import small_store

    meta = json.loads((small_store(tmp_path) / "store.json").read_text())
    assert all("builder" not in s for s in meta["subsets"])
    assert all(set(json.loads(line)) & {"kind", "option_boxes", "answer_box", "image_size"} == set()
               for line in (tmp_path / "store" / "items.jsonl").read_text().splitlines())


def _rows(out: Path, name: str) -> list[dict]:
    return list(read_jsonl(out / name))


def test_trl_default_family_and_box_choice(store, tmp_path):
    items = {it.item_id: it for it in VQAStore(store).items()}
    run_export(store, "trl", tmp_path / "plain")
    for row in _rows(tmp_path / "plain", "train.jsonl"):
        it = items[row["item_id"]]
        user, answer = row["messages"][0]["content"][1]["text"], row["messages"][1]["content"][0]["text"]
        assert (user, answer) == (it.question_choice, it.answer_choice)  # box-choice: a letter; grounding: a box
    run_export(store, "trl", tmp_path / "q2", ExportConfig(family="qwen2-vl"))
    for row in _rows(tmp_path / "q2", "train.jsonl"):
        it = items[row["item_id"]]
        answer = row["messages"][1]["content"][0]["text"]
        if it.kind == "grounding":
            assert re.fullmatch(r"<\|object_ref_start\|>polyp<\|object_ref_end\|><\|box_start\|>\(\d+,\d+\),\(\d+,\d+\)"
                                r"<\|box_end\|>", answer)
            assert parse_box(answer).box == tuple(it.answer_box)
        else:
            assert answer == it.answer_choice
    run_export(store, "trl", tmp_path / "q25", ExportConfig(family="qwen2.5-vl"))
    frame = resized_size(W, H, 28, 3136, 12_845_056)
    for row in _rows(tmp_path / "q25", "test.jsonl"):
        it = items[row["item_id"]]
        if it.kind == "grounding":
            answer = row["messages"][1]["content"][0]["text"]
            assert json.loads(answer)["label"] == "polyp" and "JSON" in row["messages"][0]["content"][1]["text"]
            assert iou(parse_box(answer, "pixels", frame).box, it.answer_box) > 0.9


def test_swift_writes_its_grounding_fields(store, tmp_path):
    items = {(it.question, it.image): it for it in VQAStore(store).items()}
    run_export(store, "swift", tmp_path / "sw")
    rows = _rows(tmp_path / "sw", "train.jsonl")
    ground = [r for r in rows if "objects" in r]
    assert ground and len(ground) < len(rows)
    for r in ground:
        assert r["messages"][1]["content"] == "<bbox>" and r["objects"]["bbox_type"] == "real"
        it = items[(r["messages"][0]["content"].removeprefix("<image>"),
                    str(Path(r["images"][0]).relative_to(store.resolve())))]
        (x1, y1, x2, y2), = r["objects"]["bbox"]
        assert iou((x1 / W, y1 / H, x2 / W, y2 / H), it.answer_box) > 0.9


def test_sharegpt_and_llava_carry_grounding_in_the_family_syntax(store, tmp_path):
    run_export(store, "sharegpt", tmp_path / "sg", ExportConfig(family="qwen2-vl"))
    msgs = [r["messages"][1]["content"] for r in json.loads((tmp_path / "sg" / "medmat_train.json").read_text())]
    assert any(m.startswith("<|object_ref_start|>") for m in msgs) and any(m in "ABCD" for m in msgs)
    run_export(store, "llava", tmp_path / "ll")
    gpt = [r["conversations"][1]["value"] for r in json.loads((tmp_path / "ll" / "test.json").read_text())]
    assert any(parse_box(g).valid for g in gpt) and any(g in "ABCD" for g in gpt)
    with pytest.raises(ValueError, match="did you mean"):
        ExportConfig(family="qwen2vl")


def test_multiple_choice_tools_leave_grounding_out(store, tmp_path):
    ctx = run_export(store, "vlmevalkit", tmp_path / "vl")
    assert any("grounding item(s) left out" in n for n in ctx.notes)
    tsv = next(p for p in ctx.files if p.name.endswith(".tsv") and "test" in p.name)
    with tsv.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["item_id"] for r in rows] == [it.item_id for it in VQAStore(store).items("bc", "test")]
    ctx = run_export(store, "lmms-eval", tmp_path / "lm", ExportConfig(split="test"))
    assert any("left out" in n for n in ctx.notes)
    with pytest.raises(ValueError, match="only grounding items"):
        run_export(store, "vlmevalkit", tmp_path / "vl2", ExportConfig(subsets=["gr"]))


def test_parquet_carries_the_box_columns(store, tmp_path):
    import pyarrow.parquet as pq

    run_export(store, "parquet", tmp_path / "pq")
    table = pq.read_table(tmp_path / "pq" / "train.parquet")
    assert {"kind", "option_boxes", "answer_box", "image_size"} <= set(table.column_names)
    rows = table.select(["kind", "option_boxes", "answer_box", "image_size", "options"]).to_pylist()
    for r in rows:
        assert r["image_size"] == [W, H] and len(r["answer_box"]) == 4
        assert len(r["option_boxes"]) == len(r["options"]) == (0 if r["kind"] == "grounding" else len(r["options"]))
    card = (tmp_path / "pq" / "README.md").read_text()
    assert "- name: option_boxes\n    sequence:\n      sequence: float64" in card
