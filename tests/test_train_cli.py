"""`medmat train` end to end on a tiny store + manifest built here, and the config precedence."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from medmat.models.base import TrainConfig
from medmat.train import TrainConfigError, load_train_spec, parse_assignments


def test_config_precedence_defaults_yaml_cli(tmp_path):
    assert load_train_spec().config == TrainConfig()
    f = tmp_path / "train.yaml"
    f.write_text(yaml.safe_dump({"lr": 0.001, "max_steps": 50, "extra": {"lora_r": 4, "bf16": False},
                                 "load_options": {"max_pixels": 3136}}))
    spec = load_train_spec(f, overrides={"max_steps": 7, "lr": None}, extra={"lora_r": 8},
                           load_options={"min_pixels": 784})
    assert spec.config.lr == 0.001  # from the file (flag left unset)
    assert spec.config.max_steps == 7  # flag beats file
    assert spec.config.batch_size == TrainConfig().batch_size  # default
    assert spec.config.extra == {"lora_r": 8, "bf16": False}
    assert spec.load_options == {"max_pixels": 3136, "min_pixels": 784}


def test_config_errors_are_clear(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("learning_rate: 0.1\n")
    with pytest.raises(TrainConfigError, match="bad.yaml: learning_rate"):
        load_train_spec(f)
    with pytest.raises(TrainConfigError, match="no such train config"):
        load_train_spec(tmp_path / "missing.yaml")
    with pytest.raises(TrainConfigError, match="KEY=VALUE"):
        parse_assignments(["lora_r"], "--extra")
    assert parse_assignments(["a=1", "b=true", "c=x y", "d=0.5"], "--extra") == {"a": 1, "b": True, "c": "x y", "d": 0.5}


def _manifest(tmp_path, items):
    from medmat.io import sha256_file

    train = sorted(it.item_id for it in items if it.split == "train")
    test = sorted(it.item_id for it in items if it.split == "test")
    data = {
        "version": 1, "store": "store", "store_fingerprint": sha256_file(tmp_path / "store" / "items.jsonl"),
        "target": "CT/Lung/Tumor Classification", "target_subset": "t1", "seed": 0, "cap": None,
        "arms": [
            {"name": "all", "kind": "all-data", "train_subsets": ["t1"], "train": train, "test": test,
             "n_train": len(train)},
            {"name": "zs", "kind": "zero-shot", "train": [], "test": test, "n_train": 0},
        ],
    }
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture()
def setup(tmp_path):
    pytest.importorskip("trl")
    from medmat.models.tiny import build_tiny, write_tiny_store

    items = write_tiny_store(tmp_path / "store", n_items=4, seed=0)
    return _manifest(tmp_path, items), build_tiny("qwen2-vl", tmp_path / "tiny", seed=0)


def _run(args):
    from medmat.cli.main import app

    return CliRunner().invoke(app, args)


def test_medmat_train_writes_train_json_and_resumes(tmp_path, setup):
    manifest, model = setup
    out = tmp_path / "run"
    args = ["train", str(manifest), "--arm", "all", "--backbone", "qwen2-vl", "--model", str(model),
            "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--save-every", "1",
            "--extra", "train_lm_head=true", "--option", "max_pixels=3136", "--json"]
    r = _run(args)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    on_disk = json.loads((out / "train.json").read_text())
    assert rec["status"] == on_disk["status"] == "complete"
    assert rec["steps"] == 2 and rec["n_train"] == 4 and rec["backbone"] == "qwen2-vl"
    assert rec["config"]["max_steps"] == 2 and rec["config"]["extra"] == {"train_lm_head": True}
    assert rec["model_options"] == {"max_pixels": 3136}
    assert {"torch", "transformers", "peft", "trl"} <= set(rec["versions"])
    assert (out / "adapter_config.json").is_file()
    # The same command again: the run is complete, nothing is retrained.
    again = json.loads(_run(args).stdout)
    assert again["already_complete"] is True and again["steps"] == 2
    # More steps: the run continues from its last checkpoint.
    longer = list(args)
    longer[longer.index("--max-steps") + 1] = "3"
    more = json.loads(_run(longer).stdout)
    assert more["steps"] == 3 and more["result"]["resumed_from"] == 2
    # Other settings in the same folder would mix two runs: refused.
    r = _run([a if a != "train_lm_head=true" else "lora_r=4" for a in args])
    assert r.exit_code == 1 and "different run" in r.output


def test_medmat_train_zero_shot_arm_saves_untrained_model(tmp_path, setup):
    manifest, model = setup
    out = tmp_path / "zs"
    r = _run(["train", str(manifest), "--arm", "zs", "--backbone", "qwen2-vl", "--model", str(model), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "zero-shot" in r.output
    rec = json.loads((out / "train.json").read_text())
    assert rec["steps"] == 0 and rec["zero_shot"] is True and rec["result"] is None
    assert (out / "model.safetensors").is_file() and (out / "processor_config.json").is_file()


def test_medmat_train_clean_errors(tmp_path, setup):
    manifest, model = setup
    base = ["train", str(manifest), "--out", str(tmp_path / "x"), "--model", str(model)]
    r = _run(base + ["--arm", "all", "--backbone", "qwen2vl"])
    assert r.exit_code == 1 and "did you mean" in r.output and "Traceback" not in r.output
    r = _run(base + ["--arm", "nope", "--backbone", "qwen2-vl"])
    assert r.exit_code == 1 and "unknown arm" in r.output
    r = _run(base + ["--arm", "all", "--backbone", "qwen2-vl", "--method", "qlora"])
    assert r.exit_code == 1 and "--method" in r.output
    r = _run(base + ["--arm", "all", "--backbone", "llava"])
    assert r.exit_code == 1 and "use --backbone qwen2-vl" in r.output
    (tmp_path / "store" / "items.jsonl").write_text((tmp_path / "store" / "items.jsonl").read_text() + "\n\n")
    r = _run(base + ["--arm", "all", "--backbone", "qwen2-vl"])
    assert r.exit_code == 1 and "changed since the manifest was planned" in r.output


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "accelerate"


def test_example_configs_are_valid():
    train_files = sorted(EXAMPLES.glob("medmat-train-*.yaml"))
    launch_files = sorted(set(EXAMPLES.glob("*.yaml")) - set(train_files))
    assert len(train_files) >= 2 and len(launch_files) >= 4
    methods = {load_train_spec(f).config.method for f in train_files}
    assert methods == {"lora", "full"}
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {str(load_config_from_file(str(f)).distributed_type).split(".")[-1] for f in launch_files}
    assert {"MULTI_GPU", "FSDP", "DEEPSPEED"} <= kinds
