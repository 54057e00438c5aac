"""Multi-process training under a real launch: `accelerate launch` with 2 CPU processes (gloo)
runs `medmat train` and `medmat run` on a tiny offline Qwen2-VL.

Loss tolerance between 1 and 2 processes: the runs see the same items in the same order
(the Trainer's seeded sampler; rank r takes every other micro-batch of it, so 2 x
batch 2 covers what 1 x batch 4 covers, step by step) and the same loss normalisation (the
answer tokens of the whole global batch), so they differ only by float32 rounding: the
gradients are all-reduced across the ranks instead of summed in one batch, and each rank
pads its own micro-batch. Measured here: <= 1e-6 on losses near 6. AdamW divides by
sqrt(v), which can enlarge rounding on near-zero gradient entries, so the test allows
1e-3 (absolute), still 10x below the smallest change between two steps of these runs, so a
different data order or a different global batch would fail it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers.distributed import launch, marked, written

pytest.importorskip("trl")
pytestmark = pytest.mark.slow

LOSS_TOL = 1e-3
TRAIN = ["--max-steps", "4", "--save-every", "2", "--lr", "0.01", "--extra", "train_lm_head=true",
         "--extra", "lora_dropout=0", "--option", "max_pixels=3136"]


def _setup(tmp_path: Path) -> Path:
    from medmat.io import sha256_file
    from medmat.models.tiny import build_tiny, write_tiny_store

    items = write_tiny_store(tmp_path / "store", n_items=8, seed=0)
    train = sorted(it.item_id for it in items if it.split == "train")
    test = sorted(it.item_id for it in items if it.split == "test")
    manifest = {
        "version": 1, "store": "store", "store_fingerprint": sha256_file(tmp_path / "store" / "items.jsonl"),
        "target": "CT/Lung/Tumor Classification", "target_subset": "t1", "seed": 0, "cap": None,
        "arms": [{"name": "all", "kind": "all-data", "train_subsets": ["t1"], "train": train, "test": test,
                  "n_train": len(train)}],
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    build_tiny("qwen2-vl", tmp_path / "tiny", seed=0)
    return tmp_path / "manifest.yaml"


def _rank1_writes(log_dir: Path, inside: Path) -> list[str]:
    """What rank 1 wrote inside ``inside`` (from Python, or natively: see helpers/distributed.py),
    minus the Trainer's per-rank RNG state in each checkpoint, which resuming on rank 1 needs."""
    files = [f for f in written(log_dir).get(1, []) if not f.endswith("/")]  # folders made are not files
    mine = [Path(f) for f in files if Path(f).is_relative_to(inside)]
    found = {str(p.relative_to(inside)) for p in mine} | set(marked(inside))
    logs = str(log_dir.parent.relative_to(inside))  # every launch's records lie under one folder
    return sorted(f for f in found if Path(f).name != "rng_state_1.pth" and not Path(f).is_relative_to(logs))


def test_two_processes_train_like_one_and_resume_after_a_rank_dies(tmp_path, monkeypatch):
    _setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    from medmat.cli.main import app

    one = CliRunner().invoke(app, ["train", "manifest.yaml", "--arm", "all", "--backbone", "qwen2-vl", "--model", "tiny",
                                   "--out", "one", "--batch-size", "4", *TRAIN, "--json"])
    assert one.exit_code == 0, one.output
    cmd = ["train", "manifest.yaml", "--arm", "all", "--backbone", "qwen2-vl", "--model", "tiny", "--out", "two",
           "--batch-size", "2", *TRAIN, "--json"]
    # rank 1 dies as step 4 begins: the launch fails, checkpoint 2 is whole, the run is not complete
    died = launch([cmd], cwd=tmp_path, log_dir=tmp_path / "logs" / "w1", fault="train-exit:1:2")
    assert died.returncode != 0
    assert "exitcode  : 3" in died.stderr and "rank      : 1" in died.stderr.split("Root Cause", 1)[1]
    assert (tmp_path / "two" / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (tmp_path / "two" / "checkpoints" / "checkpoint-4").exists()
    assert json.loads((tmp_path / "two" / "train.json").read_text())["status"] == "running"
    # the same launch line again resumes on both ranks from checkpoint 2
    again = launch([cmd], cwd=tmp_path, log_dir=tmp_path / "logs" / "w2")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-5000:]
    rec2 = json.loads((tmp_path / "two" / "train.json").read_text())
    rec1 = json.loads((tmp_path / "one" / "train.json").read_text())
    assert rec2["status"] == "complete" and rec2["steps"] == 4
    assert rec2["result"]["resumed_from"] == 2 and rec2["result"]["details"]["processes"] == 2
    assert rec1["result"]["details"]["processes"] == 1
    l1, l2 = rec1["result"]["losses"], rec2["result"]["losses"]
    assert [s for s, _ in l1] == [s for s, _ in l2] == [1, 2, 3, 4]
    assert max(abs(a[1] - b[1]) for a, b in zip(l1, l2)) <= LOSS_TOL, (l1, l2)
    assert min(abs(a[1] - b[1]) for a, b in zip(l1, l1[1:])) > 10 * LOSS_TOL  # the tolerance can tell steps apart
    # only rank 0 wrote shared files, in both launches
    for log in ("w1", "w2"):
        assert _rank1_writes(tmp_path / "logs" / log, tmp_path) == []
    assert (tmp_path / "two" / "adapter_model.safetensors").is_file()


STUDY = {
    "name": "tiny-hf",
    "seed": 0,
    "data": {"synth": {"seed": 0, "size": 64, "per_label": 4}, "max_side": None, "workers": 1},
    "plan": {"targets": ["CT/Brain/Lesion Presence"], "arms": ["zero-shot", "related", "unrelated"],
             "max_per_direction": 1, "directions": ["fixed-task"], "train_size": 8},
    "model": {"backbone": "qwen2-vl", "path": "tiny", "options": {"max_pixels": 3136}},
    "train": {"max_steps": 2, "batch_size": 2, "save_every": 2, "lr": 0.01,
              "extra": {"train_lm_head": True, "lora_dropout": 0.0}},
    "eval": {"scorers": ["option", "generate"], "batch_size": 4, "max_new_tokens": 4, "bootstrap": 50,
             "in_distribution": 6},
}


def test_medmat_run_trains_and_evaluates_on_two_processes(tmp_path, monkeypatch):
    from medmat.cli.main import app
    from medmat.evaluate import arm_items, evaluate_arm, in_distribution_items
    from medmat.models.tiny import build_tiny
    from medmat.plan import load_manifest
    from medmat.study.config import load_study
    from medmat.train import train_key

    build_tiny("qwen2-vl", tmp_path / "tiny", seed=0)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    monkeypatch.chdir(tmp_path)
    # data and plan once, in one process; then every rank trains and evaluates its shard
    r = CliRunner().invoke(app, ["run", "study.yaml", "--out", "run", "--until", "plan", "--json"])
    assert r.exit_code == 0, r.output
    r2 = launch([["run", "study.yaml", "--out", "run", "--json"]], cwd=tmp_path, log_dir=tmp_path / "logs" / "w")
    assert r2.returncode == 0, r2.stdout[-3000:] + r2.stderr[-5000:]
    run = tmp_path / "run"
    assert (run / "results.json").is_file() and (run / "report" / "report.md").is_file()
    assert _rank1_writes(tmp_path / "logs" / "w", tmp_path) == []
    # each evaluation of the launch is what one process writes with the same model
    cfg = load_study(tmp_path / "study.yaml")
    model = cfg.model_resolved()
    mpath = next(p for p in (run / "plans").glob("*.json") if p.name != "study.json")
    manifest = load_manifest(mpath)
    assert {a.kind for a in manifest.arms} == {"zero-shot", "related", "unrelated"}
    for arm in manifest.arms:
        stage = json.loads((run / "stages" / f"eval__ct-brain-lesion-presence__{arm.name}.json").read_text())
        ckpt = run / "models" / train_key(manifest.store_fingerprint, arm.train, model, cfg.train)
        where = run / stage["output"]["results"]
        single = evaluate_arm(arm_items(mpath, arm.name), model, ckpt, cfg.eval, tmp_path / "single" / arm.name)
        assert (tmp_path / "single" / arm.name / "predictions.jsonl").read_bytes() == \
            (where / "predictions.jsonl").read_bytes(), arm.name
        assert single.metrics["overall"] == json.loads((where / "metrics.json").read_text())["overall"]
        if arm.train:
            within = in_distribution_items(mpath, arm.name, cfg.eval.in_distribution, cfg.eval.seed)
            assert (where / "in-distribution" / "predictions.jsonl").is_file() and within.items

