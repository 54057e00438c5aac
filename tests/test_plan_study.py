"""Whole-study planning: exactly the eligible targets, one manifest each, plus an index."""

import json
from itertools import combinations

import yaml
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.mat import Triplet
from medmat.plan import PlanConfig, eligible_targets, load_manifest, plan_targets, validate_manifest
from helpers.plan_store import DEMO_SUBSETS, write_demo_store
from medmat.store import VQAStore

FULL = frozenset({"modality", "area", "task"})
SIZES = {"b1": (30, 0), "m1": (0, 8)}  # b1 has no test items; m1 cannot train anybody


def brute_force_eligible(store: VQAStore) -> set[str]:
    """Independent re-derivation: test items, a covering combination, an unrelated subset."""
    infos = store.subsets()
    out = set()
    for sid, info in infos.items():
        target = Triplet.parse(info.triplet)
        if not info.counts.get("test"):
            continue
        others = [(o, target.shared(Triplet.parse(oi.triplet))) for o, oi in infos.items()
                  if o != sid and oi.counts.get("train")]
        others = [(o, sh) for o, sh in others if sh != FULL]
        related = [sh for _, sh in others if sh]
        covers = any(frozenset().union(*c) == FULL for n in (2, 3) for c in combinations(related, n))
        if covers and any(not sh for _, sh in others):
            out.add(info.triplet)
    return out


def test_all_targets_lists_exactly_the_eligible_ones(tmp_path):
    store = VQAStore(write_demo_store(tmp_path / "store", sizes=SIZES))
    expected = brute_force_eligible(store)
    assert expected and len(expected) < len(DEMO_SUBSETS)
    ok, why = eligible_targets(store)
    assert set(ok) == expected
    assert why[DEMO_SUBSETS["b1"][0]] == "no test items"
    study = plan_targets(store, PlanConfig(all_targets=True), tmp_path / "study").index
    assert {r["target"] for r in study["targets"]} == expected
    index = yaml.safe_load((tmp_path / "study" / "study.yaml").read_text())
    assert index == json.loads(json.dumps(study))
    assert index["store"] == "../store"
    files = sorted(p.name for p in (tmp_path / "study").glob("*.yaml") if p.name != "study.yaml")
    assert files == sorted(r["manifest"] for r in study["targets"])
    for row in study["targets"]:
        m = load_manifest(tmp_path / "study" / row["manifest"])
        validate_manifest(m, VQAStore(m.store_path()))
        assert m.target == row["target"] and [a.name for a in m.arms] == row["arms"]
        assert row["directions"] == list(dict.fromkeys(a.direction for a in m.arms if a.direction))
    assert {s["target"] for s in study["skipped"]} == set(why)


def test_targets_file_records_infeasible_targets(tmp_path):
    store = VQAStore(write_demo_store(tmp_path / "store"))
    tf = tmp_path / "targets.txt"
    tf.write_text("# my targets\nCT/Lung/COVID-19 Classification\n\nOCT/Retina/Retina Diseases Classification\n")
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "--store", str(tmp_path / "store"), "--targets-file", str(tf),
                            "--out-dir", str(tmp_path / "s"), "--format", "json", "--json"])
    assert r.exit_code == 0, r.output
    study = json.loads(r.stdout)
    assert [t["subset"] for t in study["targets"]] == ["03"]
    assert study["skipped"][0]["target"].startswith("OCT/Retina")
    assert "modality 'OCT'" in study["skipped"][0]["reason"]
    assert (tmp_path / "s" / "study.json").is_file()
    assert (tmp_path / "s" / study["targets"][0]["manifest"]).suffix == ".json"


def test_cli_all_targets_needs_out_dir_and_not_target(tmp_path):
    write_demo_store(tmp_path / "store")
    runner = CliRunner()
    r = runner.invoke(app, ["plan", "--store", str(tmp_path / "store"), "--all-targets"])
    assert r.exit_code == 1 and "--out-dir" in r.output
    r = runner.invoke(app, ["plan", "--store", str(tmp_path / "store"), "--all-targets", "--target", "CT/Lung/x"])
    assert r.exit_code == 1 and "not both" in r.output


def test_study_resumes_from_existing_manifests(tmp_path, monkeypatch):
    import medmat.plan.targets as study_mod

    store = VQAStore(write_demo_store(tmp_path / "store"))
    one = PlanConfig(targets=["CT/Lung/COVID-19 Classification"])
    first = plan_targets(store, one, tmp_path / "s").index
    path = tmp_path / "s" / first["targets"][0]["manifest"]
    before = path.read_bytes()

    def boom(*a, **k):
        raise AssertionError("planned again although the manifest is up to date")

    monkeypatch.setattr(study_mod, "plan_target", boom)
    again = plan_targets(store, one, tmp_path / "s").index
    assert again == first and path.read_bytes() == before
    monkeypatch.undo()
    changed = plan_targets(store, one.model_copy(update={"seed": 1, "train_size": 20}), tmp_path / "s").index
    assert load_manifest(path).seed == 1 and changed["targets"][0]["manifest"] == path.name


def test_a_manifest_is_reused_when_the_cap_comes_from_the_store(tmp_path, monkeypatch):
    """`medmat plan --target T --out F` twice: the second run reuses F although the config
    leaves the cap to the store (the manifest records the cap it resolved)."""
    import medmat.plan.targets as study_mod

    root = write_demo_store(tmp_path / "store")
    meta = json.loads((root / "store.json").read_text())
    (root / "store.json").write_text(json.dumps({**meta, "cap": 50}))
    store = VQAStore(root)
    cfg = PlanConfig(targets=["CT/Lung/COVID-19 Classification"])
    assert cfg.cap is None
    out = tmp_path / "one.yaml"
    plan_targets(store, cfg, manifest_file=out)
    assert load_manifest(out).cap == 50

    def boom(*a, **k):
        raise AssertionError("planned again although the manifest is up to date")

    monkeypatch.setattr(study_mod, "plan_target", boom)
    plan_targets(VQAStore(root), cfg, manifest_file=out)
