"""A model fine-tuned by ``medmat train`` learns to stop: after the answer letter it generates the
family's end-of-turn token, so free generation ends there and every answer parses."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("trl")
pytest.importorskip("peft")

from typer.testing import CliRunner  # noqa: E402

from medmat.cli.main import app  # noqa: E402
from medmat.evaluate.engine import evaluate  # noqa: E402
from medmat.io import sha256_file  # noqa: E402
from medmat.models import BACKBONES  # noqa: E402
from medmat.models.hf import FAMILIES  # noqa: E402
from medmat.models.tiny import TINY_BUILDERS, build_tiny, write_tiny_store  # noqa: E402
from medmat.records import LETTERS  # noqa: E402


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """A tiny store and a one-arm manifest that trains on its four train items."""
    root = tmp_path_factory.mktemp("stop")
    items = write_tiny_store(root / "store", n_items=4, seed=0, splits=("train",))
    arm = {"name": "all", "kind": "all-data", "train_subsets": ["t1"], "n_train": len(items),
           "train": sorted(it.item_id for it in items), "test": []}
    manifest = root / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({
        "version": 1, "store": "store", "store_fingerprint": sha256_file(root / "store" / "items.jsonl"),
        "target": items[0].triplet, "target_subset": "t1", "seed": 0, "cap": None, "arms": [arm]}))
    return manifest, root / "store", items


@pytest.mark.parametrize("family", [f for f in FAMILIES.names() if f in TINY_BUILDERS])
def test_trained_model_generates_end_of_turn_after_the_letter(tmp_path, plan, family):
    manifest, store, items = plan
    out = tmp_path / "run"
    r = CliRunner().invoke(app, [
        "train", str(manifest), "--arm", "all", "--backbone", family, "--model", str(build_tiny(family, tmp_path / "m")),
        "--out", str(out), "--max-steps", "20", "--batch-size", "4", "--lr", "0.01",
        "--extra", "train_lm_head=true", "--extra", "lora_dropout=0.0"])
    assert r.exit_code == 0, r.output
    eot = FAMILIES.get(family).end_of_turn
    template = json.loads((out / "train.json").read_text())["result"]["details"]["chat_template"]
    assert template["end_of_turn"] == eot and template["supervised"].strip() == "A" + eot

    bb = BACKBONES.get(family).load(out)
    tok = bb.processor.tokenizer
    eot_id = tok.convert_tokens_to_ids(eot)
    for item, ids in zip(items, bb.generate_tokens(items, store, max_new_tokens=4)):
        assert ids[-1] == eot_id, tok.convert_ids_to_tokens(ids)
        assert tok.decode(ids[:-1]).strip() in LETTERS[:item.n_options], tok.convert_ids_to_tokens(ids)
    generated = evaluate(bb, items, store, scorers=("generate",), max_new_tokens=4, n_boot=10)
    assert generated.metrics["overall"]["generate"]["invalid_rate"] == 0
