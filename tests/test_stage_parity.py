"""One operation per stage: `medmat train` + `medmat eval` on one arm of a study's manifest give
the same model and the same predictions as `medmat run` gave for that arm; the CLI flags map
onto the config fields one to one; progress shows for every backbone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from medmat.cli.main import app

TARGET = "CT/Brain/Lesion Presence"
OPTIONS = {"channels": [8, 8, 8], "dim": 16}
STUDY = {
    "name": "parity",
    "seed": 0,
    "data": {"synth": {"seed": 0, "size": 64, "per_label": 5}, "workers": 1},
    "plan": {"targets": [TARGET], "arms": ["zero-shot", "related", "unrelated"], "max_per_direction": 1,
             "directions": ["fixed-task"]},
    "model": {"backbone": "reference", "options": OPTIONS},
    "train": {"max_steps": 3, "batch_size": 8, "save_every": 3},
    "eval": {"scorers": ["option", "generate"], "batch_size": 32, "bootstrap": 100},
}
OPTION_FLAGS = ["--option", "channels=[8, 8, 8]", "--option", "dim=16"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    (root / "study.yaml").write_text(yaml.safe_dump(STUDY))
    res = CliRunner().invoke(app, ["run", str(root / "study.yaml"), "--out", str(root / "run"), "--json"])
    assert res.exit_code == 0, res.output
    manifest = next(p for p in (root / "run" / "plans").glob("*.json") if p.name != "study.json")
    return root, manifest


@pytest.mark.parametrize("arm", ["related-fixed-task-1", "zero-shot"])
def test_train_and_eval_by_hand_equal_the_study(study_run, tmp_path, arm):
    root, manifest = study_run
    run = root / "run"
    r = CliRunner().invoke(app, ["train", str(manifest), "--arm", arm, "--backbone", "reference", *OPTION_FLAGS,
                                 "--max-steps", "3", "--batch-size", "8", "--save-every", "3",
                                 "--out", str(tmp_path / "model"), "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    # the study trained the same request (same content key) into models/<key>
    study_model = run / "models" / record["request"]
    assert json.loads((study_model / "train.json").read_text())["request"] == record["request"]
    assert _sha(tmp_path / "model" / "model.safetensors") == _sha(study_model / "model.safetensors")
    r = CliRunner().invoke(app, ["eval", "--manifest", str(manifest), "--arm", arm, "--backbone", "reference",
                                 *OPTION_FLAGS, "--checkpoint", str(tmp_path / "model"), "--scorers", "option,generate",
                                 "--batch-size", "32", "--n-boot", "100", "--out", str(tmp_path / "eval"), "--json"])
    assert r.exit_code == 0, r.output
    study_eval = run / "evals" / "ct-brain-lesion-presence" / arm
    assert (tmp_path / "eval" / "predictions.jsonl").read_bytes() == (study_eval / "predictions.jsonl").read_bytes()
    by_hand, in_study = (json.loads((d / "metrics.json").read_text()) for d in (tmp_path / "eval", study_eval))
    assert by_hand["overall"] == in_study["overall"]


def test_medmat_train_reference_shows_progress(study_run, tmp_path, monkeypatch):
    """Not a terminal (CliRunner): a plain line every N steps with step, loss, items/s and ETA."""
    _, manifest = study_run
    monkeypatch.setenv("MEDMAT_PROGRESS_EVERY", "1")
    monkeypatch.setenv("MEDMAT_PROGRESS_SECONDS", "0")
    r = CliRunner().invoke(app, ["train", str(manifest), "--arm", "related-fixed-task-1", "--backbone", "reference",
                                 *OPTION_FLAGS, "--max-steps", "3", "--batch-size", "8", "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("training related-fixed-task-1: ")]
    assert [ln.split(": ", 1)[1].split(" ")[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert all("loss " in ln and "elapsed" in ln for ln in lines)
    assert "items/s" in lines[-1] and "eta" in lines[-1]


def _flag_names(command: str) -> set[str]:
    import typer.main

    click_cmd = typer.main.get_command(app)
    sub = click_cmd.commands[command]  # type: ignore[attr-defined]
    return {opt for p in sub.params for opt in p.opts + p.secondary_opts}


@pytest.mark.parametrize("command,config,exclude", [
    ("train", "medmat.models.base:TrainConfig", ()),
    ("eval", "medmat.evaluate.config:EvalConfig", ("in_distribution",)),
    ("plan", "medmat.plan.config:PlanConfig", ("targets", "all_targets")),
    ("build", "medmat.build.config:BuildSettings", ()),
    ("report", "medmat.study.report_config:ReportConfig", ()),
])
def test_every_config_field_is_a_flag_of_the_same_name(command, config, exclude):
    from medmat.registry import resolve_ref

    cls = resolve_ref(config)
    flags = _flag_names(command)
    for name in cls.model_fields:
        if name in exclude:
            continue
        assert f"--{name.replace('_', '-')}" in flags, f"medmat {command} has no flag for {cls.__name__}.{name}"
