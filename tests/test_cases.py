"""Study `cases`: one study file run over several whole-study settings, side by side."""

from __future__ import annotations

import pytest
import yaml

from medmat.config import ConfigError
from medmat.study.config import StudyConfig, load_study
from medmat.study.results import StudyResults

TRIPLETS = ["CT/Brain/Lesion Presence", "MRI/Brain/Lesion Presence", "CT/Breast/Lesion Presence",
            "MRI/Kidney/Lesion Presence", "X-ray/Lung/Lesion Presence", "Dermoscopy/Kidney/Lesion Presence",
            "CT/Lung/Image Quality Grading", "Microscopy/Liver/Lesion Laterality"]
STUDY = {
    "name": "tiny-dial",
    "data": {"synth": {"per_label": 6, "test_fraction": 0.34, "triplets": TRIPLETS}, "workers": 1},
    "plan": {"targets": ["CT/Brain/Lesion Presence"], "arms": ["zero-shot", "leave-out"]},
    "model": {"backbone": "reference", "options": {"image_size": 32, "channels": [4, 8, 8], "dim": 16}},
    "train": {"max_steps": 3, "batch_size": 8, "save_every": 1000},
    "eval": {"scorers": ["option"], "batch_size": 64, "in_distribution": 6, "n_boot": 100},
    "cases": {"dial-0": {}, "dial-1": {"data.synth.modality_effect": 1, "data.synth.area_effect": 1}},
}


def _write(tmp_path, study) -> StudyConfig:
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return load_study(tmp_path / "study.yaml")


def test_each_case_is_the_study_with_its_settings(tmp_path):
    cfg = _write(tmp_path, {**STUDY, "seeds": [0, 1]})
    cases = dict(cfg.case_configs())
    assert list(cases) == ["dial-0", "dial-1"]
    assert cases["dial-0"].data.synth.modality_effect == 0 and cases["dial-1"].data.synth.area_effect == 1
    assert all(c.cases == {} and c.seeds == [0, 1] and c.name == "tiny-dial" for c in cases.values())
    one = cases["dial-1"].for_seed(1)  # a case's seed run keeps the case's settings
    assert one.data.synth.seed == 1 and one.data.synth.modality_effect == 1
    assert StudyConfig.model_validate({k: v for k, v in STUDY.items() if k != "cases"} | {"base_dir": "."}) \
        .case_configs()[0][0] is None


@pytest.mark.parametrize("sets, message", [
    ({"seeds": [3]}, "a case changes the study's settings"),
    ({"data.synth.modality_effect": 2}, "less than or equal to 1"),
    ({"train.no_such_field": 1}, "no_such_field"),
])
def test_bad_cases_are_clear_errors(tmp_path, sets, message):
    with pytest.raises(ConfigError, match=message):
        _write(tmp_path, {**STUDY, "cases": {"bad": sets}})
    with pytest.raises(ConfigError, match="folder name"):
        _write(tmp_path, {**STUDY, "cases": {"a/b": {}}})


@pytest.mark.slow
def test_cases_run_into_their_folders_and_are_reported_side_by_side(tmp_path):
    from medmat.study.runner import run_study

    cfg = _write(tmp_path, STUDY)
    run = run_study(cfg, tmp_path / "run")
    for case in ("dial-0", "dial-1"):
        assert (tmp_path / "run" / f"case-{case}" / "store" / "items.jsonl").is_file()
        assert any(n.startswith(f"case-{case}/train/") for n in run.log.ran)
    res = StudyResults.load(tmp_path / "run" / "results.json")
    assert list(res.cases) == ["dial-0", "dial-1"] and res.cases["dial-1"]["data.synth.modality_effect"] == 1
    assert {r.case for r in res.rows} == {"dial-0", "dial-1"}
    assert [s.case for s in res.leave_out] == ["dial-0", "dial-1"]
    assert set(res.leave_out[0].drops) == {"modality", "area", "task"}
    view = res.for_case("dial-1")
    assert {r.case for r in view.rows} == {"dial-1"} and len(view.rows) == len(res.rows) // 2
    report = run.report["markdown"].read_text()
    assert "Leave-one-element-out averages" in report and "## Case dial-1" in report
    assert "| dial-1 (area_effect=1, modality_effect=1) |" in report
    assert run.report["leave-out-option"].is_file()
    again = run_study(cfg, tmp_path / "run")  # resumable: nothing runs twice
    assert not [n for n in again.log.ran if "/train/" in n or "/eval/" in n]
