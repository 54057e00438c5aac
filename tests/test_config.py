"""The one place stage configs are merged (defaults < YAML < --set < flags), lazy registries,
and the progress lines printed when output is not a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import yaml

from medmat.config import ConfigError, DEFAULT_CAP, parse_assignments, resolve_config, set_dotted
from medmat.evaluate.config import EvalConfig
from medmat.models.base import TrainConfig
from medmat.plan.config import PlanConfig
from medmat.registry import Registry, UnknownNameError


def test_precedence_defaults_file_sets_flags(tmp_path):
    f = tmp_path / "train.yaml"
    f.write_text(yaml.safe_dump({"lr": 0.5, "max_steps": 50, "batch_size": 4, "extra": {"a": 1, "b": 2}}))
    cfg = resolve_config(TrainConfig, file=f, sets={"batch_size": 6, "extra.b": 3},
                         flags={"max_steps": 7, "lr": None, "extra": {"c": 4}})
    assert cfg.lr == 0.5  # file (the flag was not given)
    assert cfg.max_steps == 7  # flag beats file
    assert cfg.batch_size == 6  # --set beats file
    assert cfg.extra == {"a": 1, "b": 3, "c": 4}  # mappings merge key by key
    assert cfg.weight_decay == TrainConfig().weight_decay  # default


def test_errors_name_the_file_or_the_flag(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="bad.yaml: learning_rate"):
        resolve_config(TrainConfig, file=f)
    with pytest.raises(ConfigError, match="--max-steps: "):
        resolve_config(TrainConfig, flags={"max_steps": 0})
    with pytest.raises(ConfigError, match="no such config file"):
        resolve_config(TrainConfig, file=tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        resolve_config(TrainConfig, file=tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["novalue"], "--set")
    data: dict = {"a": 1}
    set_dotted(data, "train.extra.lora_r", 8)
    assert data == {"a": 1, "train": {"extra": {"lora_r": 8}}}


def test_renamed_fields_keep_their_old_names():
    assert PlanConfig(ks=[5, 0]).low_data_k == [0, 5]
    assert PlanConfig(max_train=20).train_size == 20
    assert EvalConfig(bootstrap=50).n_boot == 50
    assert PlanConfig(max_per_direction=0).max_per_direction is None  # 0 = every combination


def test_plan_cap_defaults_to_the_stores_cap():
    class Store:
        def __init__(self, meta):
            self.meta = meta

    assert PlanConfig().for_store(Store({"cap": 120})).cap_value == 120
    assert PlanConfig().for_store(Store({"cap": None})).cap_value is None  # built uncapped
    assert PlanConfig().for_store(Store({})).cap_value == DEFAULT_CAP
    assert PlanConfig(cap=0).for_store(Store({"cap": 120})).cap_value is None
    assert PlanConfig(cap=50).for_store(Store({"cap": 120})).cap_value == 50


def test_study_seed_is_every_stages_default_and_legacy_synth_options_load(tmp_path):
    from medmat.study.config import load_study

    study = {"name": "s", "seed": 7, "data": {"synth": {"per_label": 5, "options": {"test_fraction": 0.3}}},
             "plan": {"targets": ["CT/Brain/Lesion Presence"]}, "train": {"seed": 1}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    cfg = load_study(tmp_path / "s.yaml")
    assert (cfg.data.seed, cfg.plan.seed, cfg.train.seed, cfg.eval.seed) == (7, 7, 1, 7)
    assert cfg.data.synth.test_fraction == 0.3
    assert load_study(tmp_path / "s.yaml", {"seed": 3}).plan.seed == 3  # --set seed=3
    study["plan"] = {"targets": ["CT/Brain/Lesion Presence"], "all_targets": True}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    with pytest.raises(ConfigError, match="not both"):
        load_study(tmp_path / "s.yaml")


def test_lazy_registry_imports_only_what_is_asked_for():
    reg: Registry[object] = Registry("thing")
    reg.add_lazy("decoder", "json:JSONDecoder")
    reg.add("eager", 1)
    assert reg.names() == ["decoder", "eager"] and "decoder" in reg
    import json

    assert reg.get("decoder") is json.JSONDecoder
    with pytest.raises(UnknownNameError, match="did you mean 'decoder'"):
        reg.get("decodr")
    with pytest.raises(ValueError, match="already registered"):
        reg.add_lazy("eager", "json:dumps")
    with pytest.raises(ValueError, match="module:Object"):
        reg.add_lazy("bad", "json.dumps")


def test_backbone_names_need_no_torch():
    code = ("import sys; from medmat.models import BACKBONES; names = BACKBONES.names(); "
            "print(len(names), 'reference' in names, 'qwen2-vl' in names, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["8", "True", "True", "False"]


def test_line_reporter_prints_every_n_steps_and_the_end():
    from medmat.progress import LineReporter

    buf = io.StringIO()
    rep = LineReporter(buf, every=2, min_interval=0)
    with rep.task("work", total=5) as t:
        for i in range(1, 6):
            t.update(completed=i, loss=1.0 / i)
    rep.say("done")
    lines = buf.getvalue().splitlines()
    assert [ln.split(" | ")[0] for ln in lines[:-1]] == ["work: 2/5", "work: 4/5", "work: 5/5"]
    assert "loss 0.2000" in lines[2] and lines[-1] == "done"
