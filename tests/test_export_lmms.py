"""lmms-eval task folders: loaded and scored the way lmms-eval 0.7.3 does it (the mirror in
tests/helpers/export_lmms_mirror.py; benchmarks/compat/check_lmms_eval.py runs the real one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers.export_lmms_mirror import TaskManager, group_metric
from helpers.export_store import two_subset_store
from medmat.cli.main import app
from medmat.export import ExportConfig, export_store
from medmat.export.lmms import task_slugs
from medmat.export.lmms_utils import extract_letter
from medmat.store import VQAStore


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return two_subset_store(tmp_path_factory.mktemp("lmms"))


def _answers(docs: list[dict]) -> tuple[list[str], int]:
    """Right letter, wrong letter, the right option's text, gibberish, in turn; and how many are right."""
    out = []
    for i, d in enumerate(docs):
        wrong = next(c for c in "ABCD"[:len(d["options"])] if c != d["answer_choice"])
        out.append([d["answer_choice"], wrong, f"It is {d['options'][d['answer_index']]}.", "no idea"][i % 4])
    return out, sum(1 for i in range(len(docs)) if i % 4 in (0, 2))


def test_tasks_load_and_score_predictions(store, tmp_path):
    export_store(store, "lmms-eval", tmp_path / "o", ExportConfig(split="test"))
    shutil.move(str(tmp_path / "o"), str(tmp_path / "moved"))  # data_files are relative to the YAMLs
    tm = TaskManager(tmp_path / "moved")
    assert set(tm.groups) == {"medmat"} and set(tm.tasks) == {"medmat_03", "medmat_s_2"}
    tasks = tm.load("medmat")
    st = VQAStore(store)
    by_id = st.by_id()
    scores, sizes, right = [], [], 0
    for task in tasks:
        docs = list(task.docs)
        subset = {"medmat_03": "03", "medmat_s_2": "s-2"}[task.name]
        assert sorted(d["item_id"] for d in docs) == sorted(it.item_id for it in st.items(subset, "test"))
        for d in docs:
            (img,) = task.doc_to_visual(d)
            assert isinstance(img, Image.Image) and img.mode == "RGB"
            assert task.doc_to_text(d) == by_id[d["item_id"]].question_choice
            assert task.doc_to_target(d) == by_id[d["item_id"]].answer_choice
        answers, n_right = _answers(docs)
        result = task.score(answers)
        assert result["accuracy"] == pytest.approx(n_right / len(docs))
        assert result["invalid"] == pytest.approx(sum(1 for i in range(len(docs)) if i % 4 == 3) / len(docs))
        scores.append(result["accuracy"])
        sizes.append(len(docs))
        right += n_right
    assert tm.groups["medmat"]["aggregate_metric_list"][0] == {"metric": "accuracy", "aggregation": "mean",
                                                               "weight_by_size": True}
    assert group_metric(scores, sizes) == pytest.approx(right / len(st.items(split="test")))


@pytest.mark.parametrize(("text", "options", "letter"), [
    ("B", ["a", "b", "c"], "B"),
    ("(C)", ["a", "b", "c"], "C"),
    ("A. normal", ["normal", "cyst"], "A"),
    ("B: cyst", ["normal", "cyst"], "B"),
    ("  D\n", ["w", "x", "y", "z"], "D"),
    ("The answer is C.", ["a", "b", "c"], "C"),
    ("Answer: (B)", ["a", "b", "c"], "B"),
    ("It looks like a cyst", ["normal", "cyst"], "B"),  # the one option named
    ("normal or cyst", ["normal", "cyst"], None),  # two named
    ("D", ["a", "b", "c"], None),  # no option D in this question
    ("a chest film", ["Normal", "Cyst", "Tumor"], None),  # an article, not option A
    ("Tumor.", ["Normal", "Cyst", "Tumor"], "C"),
    ("cystic change", ["Normal", "Cyst", "Tumor"], None),  # "Cyst" only inside a word
    ("", ["a", "b"], None),
    ("I cannot tell", ["normal", "cyst"], None),
])
def test_extract_letter(text, options, letter):
    assert extract_letter(text, options) == letter


def test_names_slugs_and_errors(store, tmp_path):
    files = export_store(store, "lmms-eval", tmp_path / "n", ExportConfig(split="test", name="kidney"))
    assert {f.name for f in files} >= {"kidney.yaml", "kidney_03.yaml", "kidney_s_2.yaml", "utils.py",
                                       "_default_template_yaml", "test.parquet", "README.md"}
    assert TaskManager(tmp_path / "n").groups["kidney"]["task"] == ["kidney_03", "kidney_s_2"]
    assert task_slugs(["s-2", "s_2", "S 2", "--"]) == {"s-2": "s_2", "s_2": "s_2_2", "S 2": "s_2_3", "--": "subset"}
    with pytest.raises(ValueError, match="test split"):
        export_store(store, "lmms-eval", tmp_path / "t", ExportConfig(split="train"))


def test_cli_names_the_include_path(store, tmp_path):
    res = CliRunner().invoke(app, ["export", str(store), "-f", "lmms-eval", "--out", str(tmp_path / "o"),
                                   "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    (line,) = json.loads(res.stdout)["next"]
    assert f"--include_path {(tmp_path / 'o').resolve()} --tasks medmat" in line
