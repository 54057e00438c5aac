"""A study with train variants: every arm trained once per variant, reported side by side."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.config import ConfigError
from medmat.study.config import load_study
from medmat.study.results import StudyResults

STUDY = {
    "name": "variants",
    "data": {"synth": {"per_label": 5, "triplets": ["CT/Brain/Lesion Presence", "CT/Breast/Lesion Presence",
                                                      "MRI/Brain/Lesion Presence", "X-ray/Lung/Image Quality Grading"]}},
    "plan": {"targets": ["CT/Brain/Lesion Presence"], "arms": ["zero-shot", "related", "unrelated"],
             "directions": ["fixed-task"], "max_per_direction": 1},
    "model": {"backbone": "reference", "options": {"image_size": 32, "channels": [8, 8], "dim": 16}},
    "train": {"max_steps": 3, "batch_size": 8},
    "variants": {"sft": {"method": "full"}, "rl": {"method": "grpo", "batch_size": 16,
                                                    "extra": {"num_generations": 2, "zero_reward_steps": 0}}},
    "eval": {"scorers": ["option", "generate"], "n_boot": 50, "in_distribution": 10},
    "report": {"figures": False},
}


def test_variants_are_validated_train_configs(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    cfg = load_study(tmp_path / "s.yaml")
    (sft, a), (rl, b) = cfg.train_variants()
    assert (sft, a.method, a.max_steps) == ("sft", "full", 3)
    assert (rl, b.method, b.batch_size, b.extra["num_generations"]) == ("rl", "grpo", 16, 2)
    bad = dict(STUDY, variants={"rl": {"methd": "grpo"}})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(ConfigError, match="methd"):
        load_study(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_every_arm_runs_per_variant_and_the_report_sets_them_side_by_side(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY, sort_keys=False))
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    res = StudyResults.load(tmp_path / "run" / "results.json")
    assert res.variants() == ["sft", "rl"]
    arms = {(row.variant, row.arm) for row in res.rows if row.scorer == "option"}
    assert {a for v, a in arms if v == "sft"} == {a for v, a in arms if v == "rl"} and len(arms) == 6
    assert (tmp_path / "run" / "evals" / "rl" / "ct-brain-lesion-presence" / "related-fixed-task-1").is_dir()
    assert {p.variant for p in res.pooled} == {"sft", "rl"} and {s.variant for s in res.summaries} == {"sft", "rl"}
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "Train variants side by side" in md and "[rl] Averages" in md and "| rl |" in md
