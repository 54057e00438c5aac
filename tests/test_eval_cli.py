"""`medmat eval`: plain store evaluation, manifest arms, --json, --out, clean errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medmat.cli.main import app
from helpers.eval import make_items, write_store

pytest.importorskip("torch")

REF_OPTS = ["--option", "threads=1", "--option", "image_size=16", "--option", "channels=[8, 16]",
            "--option", "dim=16", "--option", "n_hash=64"]


def _store(tmp_path):
    items = make_items(9, subset="02") + make_items(6, subset="05", triplet="MRI/Brain/Tumor Classification")
    for i, it in enumerate(items):  # unique ids and images across the two subsets
        it.item_id = f"{it.subset}-{i:03d}"
        it.image = f"images/{it.subset}-{i:03d}.png"
    return write_store(tmp_path / "store", items), items


def test_eval_store_subset_json_and_out(tmp_path):
    store, items = _store(tmp_path)
    out = tmp_path / "eval"
    r = CliRunner().invoke(app, ["eval", "--store", str(store), "--subset", "02", "--backbone", "reference",
                                 *REF_OPTS, "--circular", "--n-boot", "50", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert set(m["overall"]) == {"option", "generate"} and m["overall"]["option"]["n"] == 9
    assert m["subsets"].keys() == {"02"} and "circular_accuracy" in m["overall"]["option"]
    assert m["config"]["subset"] == "02" and m["config"]["backbone"] == "reference"
    assert json.loads((out / "metrics.json").read_text()) == m
    rows = (out / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 2 * sum(it.n_options for it in items if it.subset == "02")
    # same command, same bytes
    out2 = tmp_path / "eval2"
    r2 = CliRunner().invoke(app, ["eval", "--store", str(store), "--subset", "02", "--backbone", "reference",
                                  *REF_OPTS, "--circular", "--n-boot", "50", "--out", str(out2), "--json"])
    assert r2.exit_code == 0 and (out2 / "predictions.jsonl").read_bytes() == (out / "predictions.jsonl").read_bytes()


def test_eval_manifest_arm(tmp_path):
    from medmat.plan import Arm, Manifest, save_manifest
    from medmat.store import VQAStore

    store, items = _store(tmp_path)
    test_ids = sorted(it.item_id for it in items if it.subset == "05")
    train_ids = sorted(it.item_id for it in items if it.subset == "02")
    man = Manifest(
        store="store", store_fingerprint=VQAStore(store).fingerprint(), target="MRI/Brain/Tumor Classification",
        target_subset="05", arms=[
            Arm(name="zero-shot", kind="zero-shot", test=test_ids, n_train=0),
            Arm(name="unrelated-1", kind="unrelated", train_subsets=["02"], train=train_ids, test=test_ids,
                n_train=len(train_ids)),
        ],
    )
    path = save_manifest(man, tmp_path / "plan.yaml")
    r = CliRunner().invoke(app, ["eval", "--manifest", str(path), "--arm", "zero-shot", "--backbone", "reference",
                                 *REF_OPTS, "--scorers", "option", "--n-boot", "50", "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["scorers"] == ["option"] and m["overall"]["option"]["n"] == len(test_ids)
    assert m["config"]["arm"] == "zero-shot" and m["config"]["target_subset"] == "05"
    bad = CliRunner().invoke(app, ["eval", "--manifest", str(path), "--arm", "zero-shot", "--backbone",
                                   "reference", *REF_OPTS, "--scorers", "option", "--n-boot", "50"])
    assert bad.exit_code == 0 and "no --out" in bad.stdout
    wrong = CliRunner().invoke(app, ["eval", "--manifest", str(path), "--arm", "zero-shoot", "--backbone",
                                     "reference"])
    assert wrong.exit_code == 1 and "did you mean" in " ".join(wrong.output.split())
    assert "Traceback" not in wrong.output


@pytest.mark.parametrize("args,message", [
    (["--backbone", "reference"], "either --manifest"),
    (["--store", "{store}", "--backbone", "reference"], "--subset"),
    (["--store", "{store}", "--subset", "02", "--backbone", "referense"], "did you mean"),
    (["--store", "{store}", "--subset", "99", "--backbone", "reference"], "no 'test' items"),
    (["--store", "{store}", "--subset", "02", "--backbone", "reference", "--scorers", "optoin"], "did you mean"),
    (["--store", "{tmp}", "--subset", "02", "--backbone", "reference"], "not a medmat VQA store"),
    (["--store", "{store}", "--subset", "02", "--backbone", "reference", "--option", "bogus"], "key=value"),
    (["--store", "{store}", "--subset", "02", "--backbone", "reference", "--checkpoint", "{tmp}/none"],
     "cannot load backbone"),
])
def test_eval_errors_are_clean(tmp_path, args, message):
    store, _ = _store(tmp_path)
    args = [a.format(store=store, tmp=tmp_path) for a in args]
    r = CliRunner().invoke(app, ["eval", *args])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())  # rich wraps long messages
    assert message in text and "Traceback" not in text


def test_eval_resumes_from_partial_rows(tmp_path):
    """An interrupted run leaves .partial-*.jsonl in --out; the next run reuses its rows."""
    store, _ = _store(tmp_path)
    out = tmp_path / "eval"
    args = ["eval", "--store", str(store), "--subset", "02", "--backbone", "reference", *REF_OPTS,
            "--scorers", "generate", "--n-boot", "50", "--out", str(out), "--json"]
    assert CliRunner().invoke(app, args).exit_code == 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert not list(out.glob(".partial-*"))  # cleaned up after a complete run
    # Fake an interruption: keep the rows in a partial file, with one answer marked.
    from medmat.config import parse_assignments
    from medmat.evaluate.arm import partial_path

    identity = {"backbone": "reference", "checkpoint": None, "options": parse_assignments(REF_OPTS[1::2], "--option"),
                "scorers": ["generate"],
                "circular": False, "batch_size": 8, "max_new_tokens": 16, "items": sorted(r["item_id"] for r in rows)}
    rows[0].update(raw="resumed answer", pred=None, parsed_how="unparsed", correct=False)
    (out / "predictions.jsonl").unlink()
    partial_path(out, identity).write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    again = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert again[0]["raw"] == "resumed answer" and len(again) == len(rows)
    assert not list(out.glob(".partial-*"))
