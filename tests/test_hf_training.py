"""Training HF backbones on tiny models: loss falls, adapters reload exactly, runs resume."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from medmat.models import BACKBONES, FitCallback, TrainConfig  # noqa: E402
from medmat.models.hf.training import CHECKPOINTS  # noqa: E402
from medmat.models.tiny import build_tiny, write_tiny_store  # noqa: E402


def _cfg(**kw):
    base = dict(max_steps=6, batch_size=4, lr=1e-2, save_every=100, seed=0,
                extra={"train_lm_head": True, "lora_dropout": 0.0})
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture()
def data(tmp_path):
    items = write_tiny_store(tmp_path / "store", n_items=4, seed=0)
    return tmp_path / "store", [it for it in items if it.split == "train"]


def _flat(scores):
    return [x for row in scores for x in row]


def _params(model, pattern):
    return {n: p.detach().clone() for n, p in model.named_parameters() if pattern in n}


def test_lora_loss_falls_and_adapter_reload_reproduces_scores(tmp_path, data):
    root, train = data
    base = build_tiny("qwen2-vl", tmp_path / "base", seed=0)
    bb = BACKBONES.get("qwen2-vl").load(base)
    vision_before = _params(bb.model, "visual")
    before = bb.score_options(train, root)
    facts = bb.fit(train, root, tmp_path / "out", _cfg(extra={"train_lm_head": True, "lora_dropout": 0.0,
                                                                "save_base": True}))
    assert facts.steps == 6 and facts.details["method"] == "lora"
    assert facts.final_loss < facts.first_loss - 0.5
    after = bb.score_options(train, root)
    assert _flat(after) != pytest.approx(_flat(before), abs=1e-3)
    # Correct letters became more likely on the memorised set.
    gain = sum(a[it.answer_index] - b[it.answer_index] for a, b, it in zip(after, before, train))
    assert gain > 0
    # The vision tower stayed frozen.
    for n, p in _params(bb.model, "visual").items():
        key = n.replace("base_model.model.", "")
        assert p.equal(vision_before[key]), n
    out = tmp_path / "out"
    assert (out / "adapter_config.json").is_file() and (out / "processor_config.json").is_file()
    assert (out / "base" / "model.safetensors").is_file() and (out / "medmat_hf.json").is_file()
    reloaded = BACKBONES.get("qwen2-vl").load(out)
    assert reloaded.method == "lora"
    assert _flat(reloaded.score_options(train, root)) == pytest.approx(_flat(after), abs=1e-5)


def test_full_finetune_freezes_vision_and_learns(tmp_path, data):
    root, train = data
    base = build_tiny("llava", tmp_path / "base", seed=0)
    bb = BACKBONES.get("llava").load(base)
    vision_before = _params(bb.model, "vision_tower")
    lm_before = _params(bb.model, "language_model")
    facts = bb.fit(train, root, tmp_path / "out", _cfg(method="full", lr=3e-3, extra={}))
    assert facts.final_loss < facts.first_loss
    assert all(p.equal(vision_before[n]) for n, p in _params(bb.model, "vision_tower").items())
    assert any(not p.equal(lm_before[n]) for n, p in _params(bb.model, "language_model").items())
    reloaded = BACKBONES.get("llava").load(tmp_path / "out")
    assert _flat(reloaded.score_options(train, root)) == pytest.approx(_flat(bb.score_options(train, root)), abs=1e-5)


class _Interrupt(Exception):
    pass


class _InterruptAt(FitCallback):
    """Kills training right after optimizer step ``step`` (before any checkpoint of it)."""

    def __init__(self, step):
        self.step = step

    def on_step(self, step, total, loss):
        if step == self.step and loss is None:
            raise _Interrupt(f"killed at step {step}")


class _Steps(FitCallback):
    def __init__(self):
        self.ran = []

    def on_step(self, step, total, loss):
        if loss is None:
            self.ran.append(step)


def test_resume_after_interruption_continues_from_checkpoint(tmp_path, data):
    root, train = data
    base = build_tiny("qwen2-vl", tmp_path / "base", seed=0)
    cfg = _cfg(max_steps=4, batch_size=2, save_every=2)
    with pytest.raises(_Interrupt):
        BACKBONES.get("qwen2-vl").load(base).fit(train, root, tmp_path / "run", cfg, callbacks=[_InterruptAt(3)])
    assert sorted(p.name for p in (tmp_path / "run" / CHECKPOINTS).glob("checkpoint-*")) == ["checkpoint-2"]
    resumed_bb = BACKBONES.get("qwen2-vl").load(base)
    steps = _Steps()
    facts = resumed_bb.fit(train, root, tmp_path / "run", cfg, callbacks=[steps])
    assert facts.resumed_from == 2 and facts.steps == 4
    assert steps.ran == [3, 4]  # only the remaining steps ran
    assert [s for s, _ in facts.losses] == [1, 2, 3, 4]  # the log continues the checkpoint's
    straight = BACKBONES.get("qwen2-vl").load(base)
    ref = straight.fit(train, root, tmp_path / "straight", cfg)
    assert facts.losses[-1][1] == pytest.approx(ref.losses[-1][1], abs=1e-4)
    assert _flat(resumed_bb.score_options(train, root)) == pytest.approx(
        _flat(straight.score_options(train, root)), abs=1e-4)


def test_bad_options_are_clear_errors(tmp_path, data):
    root, train = data
    bb = BACKBONES.get("qwen2-vl").load(build_tiny("qwen2-vl", tmp_path / "base"))
    with pytest.raises(ValueError, match="lora_rank"):
        bb.fit(train, root, tmp_path / "o", _cfg(extra={"lora_rank": 4}))
    with pytest.raises(ValueError, match="'lora' or 'full'"):
        _cfg(method="qlora")
    with pytest.raises(ValueError, match="bf16"):
        bb.fit(train, root, tmp_path / "o", _cfg(extra={"bf16": True}))
