"""Manifest files: round trips, strict loading with clear errors, determinism, `plan check`."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from medmat.registry import UnknownNameError
from medmat.cli.main import app
from medmat.io import write_jsonl
from medmat.plan import (ManifestError, PlanConfig, check_manifest, load_checked, load_manifest, plan_target, save_manifest,
                         validate_manifest)
from helpers.plan_store import DEMO_TARGET, demo_items, write_demo_store
from medmat.store import VQAStore

ARMS = ["zero-shot", "related", "unrelated", "leave-out", "low-data"]


@pytest.fixture
def store(tmp_path):
    return VQAStore(write_demo_store(tmp_path / "store"))


def _plan(store, path, **kw):
    m = plan_target(store, DEMO_TARGET, PlanConfig(arms=ARMS, ks=[0, 10], **kw), manifest_path=path)
    save_manifest(m, path)
    return m


@pytest.mark.parametrize("ext", ["yaml", "json"])
def test_manifest_round_trips(store, tmp_path, ext):
    path = tmp_path / "plans" / f"m.{ext}"
    m = _plan(store, path)
    back = load_manifest(path)
    assert back == m
    assert back.store == "../store" and back.store_path() == (tmp_path / "store")
    assert back.store_fingerprint == store.fingerprint()
    validate_manifest(back, VQAStore(back.store_path()))
    if ext == "json":
        assert json.loads(path.read_text())["target"] == DEMO_TARGET
    else:
        assert yaml.safe_load(path.read_text())["target_subset"] == "03"


def test_same_seed_same_bytes_other_seed_other_items(store, tmp_path):
    a, b, c = (tmp_path / n for n in ("a.yaml", "b.yaml", "c.yaml"))
    _plan(store, a, seed=7, train_size=20)
    _plan(store, b, seed=7, train_size=20)
    _plan(store, c, seed=8, train_size=20)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert load_manifest(a).arm("related-fixed-area-1").train != load_manifest(c).arm("related-fixed-area-1").train


def _edit(path, fn):
    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    fn(data)
    path.write_text(yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))


@pytest.mark.parametrize("edit,field", [
    (lambda d: d["arms"][1].update(bogus=1), "arms.1.bogus"),
    (lambda d: d["arms"][2].update(n_train=3), "arms.2"),
    (lambda d: d["arms"][1].update(kind="sideways"), "arms.1.kind"),
    (lambda d: d.pop("store_fingerprint"), "store_fingerprint"),
    (lambda d: d["arms"][1].update(train=list(reversed(d["arms"][1]["train"]))), "arms.1"),
    (lambda d: d["arms"][1].update(matched_with="nowhere"), "nowhere"),
])
def test_load_errors_name_the_file_and_field(store, tmp_path, edit, field):
    path = tmp_path / "m.yaml"
    _plan(store, path)
    _edit(path, edit)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_unreadable_manifests_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("arms: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ManifestError, match="is a mapping"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="no such manifest"):
        load_manifest(tmp_path / "missing.yaml")


def test_arm_lookup_suggests_close_names(store, tmp_path):
    m = _plan(store, tmp_path / "m.yaml")
    assert m.arm("zero-shot").n_train == 0
    with pytest.raises(UnknownNameError, match="did you mean 'related-fixed-area-1'"):
        m.arm("related-fixed-aera-1")


def test_save_refuses_unknown_extension(store, tmp_path):
    m = plan_target(store, DEMO_TARGET)
    with pytest.raises(ManifestError, match=".yaml, .yml or .json"):
        save_manifest(m, tmp_path / "m.txt")


def test_check_detects_changed_store_and_unknown_items(store, tmp_path):
    path = tmp_path / "m.yaml"
    m = _plan(store, path)
    assert check_manifest(m, store) == []
    items = demo_items()
    write_jsonl(tmp_path / "store" / "items.jsonl", (it.to_dict() for it in items if it.item_id != "x1-train-0003"))
    problems = check_manifest(load_manifest(path), VQAStore(tmp_path / "store"))
    assert any("fingerprint" in p for p in problems)
    assert any("not in the store" in p and "x1-train-0003" in p for p in problems)


def test_check_detects_unmatched_sizes_and_target_items(store, tmp_path):
    m = _plan(store, tmp_path / "m.yaml")
    rel = m.arm("related-fixed-area-1")
    shorter = rel.model_copy(update={"train": rel.train[1:], "n_train": rel.n_train - 1})
    target_item = m.arm("low-data-k10").train[0]
    wide = m.arm("all-related")
    widened = wide.model_copy(update={"train": sorted(wide.train + [target_item]), "n_train": wide.n_train + 1})
    arms = [shorter if a.name == rel.name else widened if a.name == wide.name else a for a in m.arms]
    problems = check_manifest(m.model_copy(update={"arms": arms}), store)
    assert any("are compared but train on" in p for p in problems)
    assert any("all-related: trains on 1 items of the target triplet" in p for p in problems)


def test_cli_plan_and_check(store, tmp_path):
    runner = CliRunner()
    path = tmp_path / "m.json"
    r = runner.invoke(app, ["plan", "--store", str(tmp_path / "store"), "--target", DEMO_TARGET, "--out", str(path),
                            "--direction", "fixed-area", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert [a["name"] for a in summary["arms"]] == ["zero-shot", "related-fixed-area-1", "unrelated-fixed-area-1"]
    r = runner.invoke(app, ["plan", "check", str(path), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True
    data = json.loads(path.read_text())
    data["arms"][1]["train"].append("zz-not-an-item")
    data["arms"][1]["n_train"] += 1
    path.write_text(json.dumps(data))
    r = runner.invoke(app, ["plan", "check", str(path), "--json"])
    assert r.exit_code == 1 and not json.loads(r.stdout)["ok"]
    r = runner.invoke(app, ["plan", "--store", str(tmp_path / "store"), "--target", "CT/Lung/Nope", "--out",
                            str(path)])
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_load_with_store_validates(store, tmp_path):
    path = tmp_path / "m.yaml"
    _plan(store, path)
    assert load_checked(path).target == DEMO_TARGET
    (tmp_path / "store" / "items.jsonl").write_text((tmp_path / "store" / "items.jsonl").read_text() + "\n")
    with pytest.raises(ManifestError, match="fingerprint"):
        load_checked(path, store=VQAStore(tmp_path / "store"))
    moved = tmp_path / "elsewhere" / "m.yaml"
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(ManifestError, match="field store"):
        load_checked(moved)
