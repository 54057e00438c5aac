"""`medmat run`: a whole (tiny) study end to end, resumable, cached, and honest in its report."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.study.config import StudyError, load_study
from medmat.study.results import StudyResults

TARGET = "CT/Brain/Lesion Presence"
STUDY = {
    "name": "tiny",
    "seed": 0,
    "data": {"synth": {"seed": 0, "size": 64, "per_label": 5}, "max_side": None, "workers": 1},
    "plan": {"targets": [TARGET], "arms": ["zero-shot", "related", "unrelated"], "max_per_direction": 1,
             "directions": ["fixed-task"]},
    "model": {"backbone": "reference", "options": {"channels": [8, 8, 8], "dim": 16}},
    "train": {"max_steps": 3, "batch_size": 8, "save_every": 3},
    "eval": {"scorers": ["option", "generate"], "batch_size": 32, "bootstrap": 100},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    (root / "study.yaml").write_text(yaml.safe_dump(STUDY))
    res = CliRunner().invoke(app, ["run", str(root / "study.yaml"), "--out", str(root / "run"), "--json"])
    assert res.exit_code == 0, res.output
    return root, json.loads(res.stdout)


def test_study_runs_every_stage_and_writes_results(run):
    root, out = run
    results = StudyResults.load(root / "run" / "results.json")
    kinds = {r.kind for r in results.rows}
    assert kinds == {"zero-shot", "related", "unrelated"}
    assert {r.scorer for r in results.rows} == {"option", "generate"}
    # one paired gain per related arm and scorer, related and unrelated matched in size
    related = [r for r in results.rows if r.kind == "related" and r.scorer == "option"]
    assert len(results.gains) == 2 * len(related)
    by_arm = {r.arm: r for r in results.rows if r.scorer == "option"}
    for g in results.gains:
        assert by_arm[g.related_arm].n_train == by_arm[g.unrelated_arm].n_train > 0
        assert g.direction == "fixed-task"
    assert results.provenance["versions"]["medmat"]
    trained = [r for r in results.rows if r.n_train > 0 and r.scorer == "option"]
    assert trained and all(r.in_distribution_accuracy is not None for r in trained)
    assert all(r.in_distribution_accuracy is None for r in results.rows if r.kind == "zero-shot")
    assert Path(out["report_html"]).is_file()
    timings = out["timings"]
    assert timings["total_s"] > 0 and timings["train_s"] > 0 and {"build_s", "plan_s", "eval_s"} <= set(timings)


def test_target_items_never_trained(run):
    root, _ = run
    from medmat.plan import load_manifest
    from medmat.store import VQAStore

    store = VQAStore(root / "run" / "store")
    items = store.by_id()
    m = load_manifest(next(p for p in (root / "run" / "plans").glob("*.json") if p.name != "study.json"))
    test_hashes = {items[i].image_hash for i in m.arms[0].test}
    for arm in m.arms:
        assert all(items[i].triplet != TARGET for i in arm.train)
        assert not test_hashes & {items[i].image_hash for i in arm.train}


def test_rerun_does_nothing_and_interrupted_stage_resumes(run, tmp_path):
    root, first = run
    copy = tmp_path / "run"
    shutil.copytree(root / "run", copy)
    runner = CliRunner()
    res = runner.invoke(app, ["run", str(root / "study.yaml"), "--out", str(copy), "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["stages_run"] == []
    assert len(again["stages_cached"]) == len(first["stages_run"]) + len(first["stages_cached"])
    # simulate an interruption after training, before one evaluation finished
    evals = sorted((copy / "stages").glob("eval__*.json"))
    evals[0].unlink()
    res = runner.invoke(app, ["run", str(root / "study.yaml"), "--out", str(copy), "--json"])
    resumed = json.loads(res.stdout)
    assert len(resumed["stages_run"]) == 1 and resumed["stages_run"][0].startswith("eval/")
    before = json.loads((root / "run" / "results.json").read_text())
    after = json.loads((copy / "results.json").read_text())
    assert before["rows"] == after["rows"] and before["gains"] == after["gains"]


def test_changed_setting_reruns_only_what_depends_on_it(run, tmp_path):
    root, _ = run
    copy = tmp_path / "run"
    shutil.copytree(root / "run", copy)
    res = CliRunner().invoke(app, ["run", str(root / "study.yaml"), "--out", str(copy), "--json",
                                   "--set", "eval.bootstrap=150"])
    assert res.exit_code == 0, res.output
    ran = json.loads(res.stdout)["stages_run"]
    assert ran and all(s.startswith("eval/") for s in ran)


def test_bad_study_files_name_the_field(tmp_path):
    bad = dict(STUDY, plan={"targets": [], "arms": ["zero-shot"]})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(StudyError, match="plan"):
        load_study(tmp_path / "s.yaml")
    typo = dict(STUDY, trian={"max_steps": 1})
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(typo))
    with pytest.raises(StudyError, match="trian"):
        load_study(tmp_path / "t.yaml")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "trian" in res.output


def test_until_plan_stops_before_training(tmp_path):
    small = dict(STUDY, plan=dict(STUDY["plan"], arms=["zero-shot"]))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(small))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--json",
                                   "--until", "plan"])
    assert res.exit_code == 0, res.output
    ran = json.loads(res.stdout)["stages_run"]
    assert "build" in ran and "plan" in ran
    assert not any(s.startswith(("train/", "eval/")) for s in ran)
    assert not (tmp_path / "r" / "results.json").exists()


def test_multi_process_launch_refuses_to_build_data(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1
    assert "--until plan" in res.output


def test_all_targets_plans_every_eligible_target(tmp_path):
    from medmat.plan import PlanConfig
    from medmat.plan import eligible_targets
    from medmat.store import VQAStore

    study = dict(STUDY, plan={"all_targets": True, "arms": ["zero-shot", "related", "unrelated"],
                              "max_per_direction": 1, "directions": ["fixed-task"]})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--json",
                                   "--until", "plan"])
    assert res.exit_code == 0, res.output
    planned = sorted(p.name for p in (tmp_path / "r" / "plans").glob("*.json") if p.name != "study.json")
    cfg = PlanConfig(arms=["zero-shot", "related", "unrelated"], max_per_direction=1, directions=["fixed-task"])
    expected, _ = eligible_targets(VQAStore(tmp_path / "r" / "store"), cfg)
    assert len(planned) == len(expected) > 3
