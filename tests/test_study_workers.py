"""`train_workers`: a study's trainings run several at once in worker processes, and give
the same models, predictions and stage records as one after the other."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.study.cache import StageLog

STUDY = {
    "name": "workers",
    "seed": 0,
    "data": {"synth": {"seed": 0, "size": 64, "per_label": 5}, "workers": 1},
    "plan": {"targets": ["CT/Brain/Lesion Presence", "CT/Lung/Image Quality Grading"],
             "arms": ["zero-shot", "related", "unrelated"], "max_per_direction": 1, "directions": ["fixed-task"]},
    "model": {"backbone": "reference", "options": {"channels": [8, 8, 8], "dim": 16}},
    "train": {"max_steps": 4, "batch_size": 8, "save_every": 4, "extra": {"threads": 1}},
    "eval": {"scorers": ["option"], "batch_size": 32, "bootstrap": 100},
}


def _run(root: Path, workers: int, *extra: str) -> tuple[int, str]:
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY))
    res = CliRunner().invoke(app, ["run", str(study), "--out", str(root / "run"), "--set", f"train_workers={workers}",
                                   "--json", *extra])
    return res.exit_code, res.output


def _digests(run: Path, pattern: str) -> dict[str, str]:
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.glob(pattern))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for workers in (1, 2):
        root = tmp_path_factory.mktemp(f"w{workers}")
        code, output = _run(root, workers)
        assert code == 0, output
        out[workers] = (root / "run", json.loads(output[output.index("{"):]))
    return out


def test_two_workers_train_the_same_models_as_one(runs):
    (one, _), (two, _) = runs[1], runs[2]
    models = _digests(one, "models/*/model.safetensors")
    assert len(models) >= 4  # the zero-shot model and at least three trained arms
    assert models == _digests(two, "models/*/model.safetensors")
    assert _digests(one, "evals/**/predictions.jsonl") == _digests(two, "evals/**/predictions.jsonl")


def test_two_workers_record_the_same_stages(runs):
    (_, a), (_, b) = runs[1], runs[2]
    assert sorted(a["stages_run"]) == sorted(b["stages_run"])
    assert sorted(a["stages_cached"]) == sorted(b["stages_cached"])
    assert b["timings"]["train_s"] > 0
    assert b["timings"]["train_wall_s"] > 0 and "train_wall_s" not in a["timings"]
    assert a["summaries"] == b["summaries"]


def test_a_rerun_with_workers_trains_nothing(runs):
    run, _ = runs[2]
    code, output = _run(run.parent, 2)
    assert code == 0, output
    again = json.loads(output[output.index("{"):])
    assert again["stages_run"] == [], again["stages_run"]


def test_a_failing_training_in_a_worker_names_its_arm(tmp_path):
    code, output = _run(tmp_path, 2, "--until", "plan")
    assert code == 0, output
    manifest = next(p for p in (tmp_path / "run" / "plans").glob("*.json") if p.name != "study.json")
    arm = next(a for a in json.loads(manifest.read_text())["arms"] if a["name"].startswith("related"))
    items = {json.loads(line)["item_id"]: json.loads(line) for line in
             (tmp_path / "run" / "store" / "items.jsonl").read_text().splitlines()}
    (tmp_path / "run" / "store" / items[arm["train"][0]]["image"]).unlink()
    code, output = _run(tmp_path, 2)
    assert code != 0
    assert "training" in output and arm["name"] in output and "image not found" in output


def test_workers_are_refused_for_a_backbone_that_cannot_share_the_cpu(tmp_path):
    from medmat.models import ModelConfig
    from medmat.study.trainings import check_workers

    check_workers(1, ModelConfig(backbone="qwen2-vl"))  # one worker: any backbone
    with pytest.raises(ValueError, match="parallel_fits"):
        check_workers(2, ModelConfig(backbone="qwen2-vl"))
    check_workers(2, ModelConfig(backbone="reference"))


def test_a_recorded_stage_is_ran_once_then_cached(tmp_path):
    log = StageLog(tmp_path)
    log.record("train/k", {"train": "k"}, {"x": 1}, 2.5)
    calls = []
    assert log.run("train/k", {"train": "k"}, lambda: calls.append(1)) == {"x": 1}
    assert log.run("train/k", {"train": "k"}, lambda: calls.append(1)) == {"x": 1}
    assert not calls
    assert log.ran == ["train/k"] and log.cached == ["train/k"]
    assert log.seconds["train/k"] == 2.5
