"""Classification <-> detection arms (``plan.cross_kind``, plan/kinds.py) on the synthetic
benchmark with its localisation task: sources of the other kind sharing the finding, the
same invariants as every plan."""

from __future__ import annotations

import pytest

from medmat.build import BuildConfig, build
from medmat.plan import PlanConfig, load_manifest, plan_targets
from medmat.plan.invariants import check_manifest
from medmat.plan.kinds import base_direction, shared_elements, subset_kind
from medmat.plan.sampling import StoreIndex
from medmat.store import VQAStore
from medmat.synth import SynthConfig

ARMS = ["zero-shot", "related", "unrelated"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> VQAStore:
    root = tmp_path_factory.mktemp("xk")
    build(BuildConfig(synth=SynthConfig(seed=0, per_label=4, test_fraction=0.5, localisation=8)),
          root / "store", work_dir=root / "data")
    return VQAStore(root / "store")


def _plan(store, tmp_path, cross_kind):
    cfg = PlanConfig(all_targets=True, cross_kind=cross_kind, directions=["fixed-task"], max_per_direction=1,
                     arms=ARMS)
    return plan_targets(store, cfg, tmp_path / (cross_kind or "none"), fmt="json")


@pytest.mark.parametrize("cross_kind,target_kind", [("cls-det", "localisation"), ("det-cls", "classification")])
def test_cross_kind_arms(store, tmp_path, cross_kind, target_kind):
    out = _plan(store, tmp_path, cross_kind)
    index = StoreIndex(store, None, 0)
    assert len(out.manifests) >= 3
    other = {"localisation": "classification", "classification": "localisation"}[target_kind]
    for path in out.manifests:
        m = load_manifest(path)
        assert subset_kind(index, m.target_subset) == target_kind
        assert check_manifest(m, store, index=index) == []  # target never trained, no test image, sizes
        related = [a for a in m.arms if a.kind == "related"]
        unrelated = {a.name: a for a in m.arms if a.kind == "unrelated"}
        assert related and all(a.direction == f"fixed-task ({'cls->det' if target_kind == 'localisation' else 'det->cls'})"
                               for a in related)
        for a in related:
            assert base_direction(a.direction) == "fixed-task"
            assert {subset_kind(index, s.subset) for s in a.sources} == {other}
            shares = [shared_elements(index, s.subset, m.target_subset) for s in a.sources]
            assert sorted(sorted(s) for s in shares) == [["area", "task"], ["modality", "task"]]
            u = unrelated[a.matched_with]
            assert u.n_train == a.n_train and not set(u.train) & set(a.train)
            assert all(shared_elements(index, s.subset, m.target_subset) == frozenset() for s in u.sources)
            tests = {index.by_id[i].image_hash for i in a.test}
            assert tests and not tests & {index.by_id[i].image_hash for i in a.train + u.train}
            assert m.target_subset not in a.train_subsets + u.train_subsets


def test_finding_links_the_kinds_and_target_like_pairs_are_never_sources(store):
    index = StoreIndex(store, None, 0)
    loc = sorted(s for s in index.infos if s.endswith("-localisation"))
    presence = sorted(s for s in index.infos if s.endswith("-presence"))
    quality = sorted(s for s in index.infos if s.endswith("-quality"))
    assert "task" in shared_elements(index, loc[0], presence[0])
    assert "task" not in shared_elements(index, loc[0], quality[0])


def test_without_cross_kind_nothing_changes(store, tmp_path):
    out = _plan(store, tmp_path, None)
    cfg = PlanConfig(all_targets=True)
    assert "cross_kind" not in cfg.settings()  # manifests of plans without it keep their bytes
    kinds = set()
    index = StoreIndex(store, None, 0)
    for path in out.manifests:
        m = load_manifest(path)
        kinds.add(subset_kind(index, m.target_subset))
        assert all(a.direction in (None, "fixed-task") for a in m.arms)
    assert kinds == {"classification", "localisation"}


def test_cross_kind_is_a_flag_of_plan_and_run():
    from typer.testing import CliRunner

    from medmat.cli.main import app

    res = CliRunner().invoke(app, ["plan", "--help"], env={"COLUMNS": "200"})
    assert "--cross-kind" in res.output
    with pytest.raises(ValueError):
        PlanConfig(cross_kind="sideways")


def test_a_cross_kind_study_is_not_set_beside_the_papers_table_3():
    """Table 3 is classification -> classification: its averages go beside pooled CG studies only."""
    from pathlib import Path

    from medmat.study.aggregate import _paper_beside
    from medmat.study.config import load_study

    root = Path(__file__).resolve().parents[1] / "examples" / "studies"
    pooled = [object()]
    assert _paper_beside(load_study(root / "synth-table3.yaml"), pooled)["rows"] == 42
    assert _paper_beside(load_study(root / "synth-cls-det.yaml"), pooled) == {}
    assert _paper_beside(load_study(root / "synth-table3.yaml"), []) == {}
