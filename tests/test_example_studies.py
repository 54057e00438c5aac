"""Every example study file loads and validates, so a README command never meets a config error."""

from __future__ import annotations

from pathlib import Path

import pytest

from medmat.study.config import load_study

STUDIES = sorted((Path(__file__).resolve().parents[1] / "examples" / "studies").glob("*.yaml"))


def test_there_are_example_studies():
    names = {p.stem for p in STUDIES}
    assert {"synth-table3", "synth-cls-det", "synth-multitask", "synth-dial", "synth-sft-vs-rl"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_example_study_loads(path):
    cfg = load_study(path)
    assert cfg.name == path.stem
    for _, case in cfg.case_configs():  # each case is a whole valid study
        assert case.cases == {}
