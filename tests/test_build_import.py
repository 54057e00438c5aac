"""`medmat import-medmat`: released json kept verbatim, mapped to catalog subsets."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.records import format_question_choice
from medmat.store import VQAStore
from helpers.build import png

runner = CliRunner()


def _rec(i: int, image: str, options: list[str], answer: int, data_no: str = "2") -> dict:
    q = "Review this kidney CT scan and determine the possible condition it represents."
    return {"id": i, "caption": options[answer], "image": image, "Question": q, "Answer": options[answer],
            "Question-choice": format_question_choice(q, options), "Answer-choice": "ABCD"[answer], "data-no": data_no}


def _released(tmp_path: Path) -> tuple[Path, Path]:
    imgs = tmp_path / "imgs"
    labels = ["Cyst", "Normal", "Stone", "Tumor"]
    rows = []
    for i in range(20):
        png(imgs / "kid" / f"{i}.png", i)
        opts = labels[i % 4:] + labels[: i % 4]
        rows.append(_rec(i + 1, f"kid/{i}.png", opts, answer=(i * 3) % 4))
    rows.append({**_rec(99, "kid/0.png", labels, 0), "Answer-choice": "B"})  # letter names the wrong option
    rows.append(_rec(100, "kid/missing.png", labels, 0))
    rows.append(_rec(101, "kid/1.png", labels, 1, data_no="777"))  # no such subset
    f = tmp_path / "json" / "CT_Kidney.json"
    f.parent.mkdir()
    f.write_text(json.dumps(rows))
    return f, imgs


def test_import_keeps_released_questions(tmp_path):
    f, imgs = _released(tmp_path)
    res = runner.invoke(app, ["import-medmat", str(f), "--image-root", str(imgs), "--out", str(tmp_path / "s"),
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["totals"]["read"] == 23 and out["totals"]["written"] == 20 and out["totals"]["skipped"] == 3
    rows = {r["id"]: r for r in json.loads(f.read_text())}
    st = VQAStore(tmp_path / "s")
    items = st.items()
    assert len(items) == 20 and {it.subset for it in items} == {"02"}
    assert items[0].triplet == "CT/Kidney/Kidney Diseases Classification"
    for it in items:
        r = rows[it.id]
        assert it.question_choice == r["Question-choice"] and it.answer_choice == r["Answer-choice"]
        assert it.to_medmat()["data-no"] == "2" and it.answer == r["Answer"]
        assert st.image_path(it).is_file()
    reasons = sorted(json.loads(line)["reason"] for line in (tmp_path / "s" / "skips.jsonl").read_text().splitlines())
    assert reasons == ["malformed-record", "missing-file", "unknown-subset"]
    res = runner.invoke(app, ["import-medmat", str(f), "--image-root", str(imgs), "--out", str(tmp_path / "s2"),
                              "--split", "test", "--subset-id", "03", "--json"])
    assert res.exit_code == 0, res.output
    items = VQAStore(tmp_path / "s2").items()
    assert len(items) == 21 and {(it.split, it.subset) for it in items} == {("test", "03")}


def test_import_malformed_json_is_a_clean_error(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("[{\"id\": 1,")
    res = runner.invoke(app, ["import-medmat", str(f), "--image-root", str(tmp_path), "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "malformed JSON" in " ".join(res.output.split()) and "Traceback" not in res.output
