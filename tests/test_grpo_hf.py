"""GRPO on tiny HF models (``method: grpo``, TRL's GRPOTrainer): the prompt is SFT's, rewards are
logged, accuracy on a trivially learnable toy set rises, adapters round-trip, runs resume.

A random tiny model writes no answer letter, so no reward is ever non-zero (the case the
zero-reward check catches). Each model therefore first learns the answer *format* by SFT on
letters drawn independently of everything (half A, half B); the toy task of GRPO is "the
answer is always A". What it learns about A can only come from the rewards.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from medmat.answers import parse_answer  # noqa: E402
from medmat.models import BACKBONES, FitCallback, TrainConfig  # noqa: E402
from medmat.models.hf.chat import encode, item_messages  # noqa: E402
from medmat.models.hf.grpo import prompt_dataset  # noqa: E402
from medmat.models.hf.training import CHECKPOINTS  # noqa: E402
from medmat.models.rewards import ZeroRewardError  # noqa: E402
from medmat.models.tiny import TINY_BUILDERS, build_tiny, write_tiny_store  # noqa: E402

FAMILIES = TINY_BUILDERS.names()


def _answer(item, index):
    return dataclasses.replace(item, answer_index=index, answer_choice="AB"[index], answer=item.options[index])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpo-store")
    items = write_tiny_store(root, n_items=8, seed=0, splits=("train",))
    return root, [_answer(it, 0) for it in items]  # the toy task: always A


@pytest.fixture(scope="module")
def warm(tmp_path_factory, data):
    """family -> a tiny model that answers "A" or "B" (then stops), regardless of the question."""
    root, items = data
    random_letters = [_answer(it, (i * 5 // 3) % 2) for i, it in enumerate(items)]  # A B B B A A A B
    made = {}

    def get(family):
        if family not in made:
            tmp = tmp_path_factory.mktemp(f"warm-{family}")
            bb = BACKBONES.get(family).load(build_tiny(family, tmp / "base", seed=0))
            bb.fit(random_letters, root, tmp / "warm", TrainConfig(method="full", max_steps=40, batch_size=8, lr=1e-2,
                                                                   save_every=1000, extra={}))
            made[family] = tmp / "warm"
        return made[family]

    return get


def _grpo(**kw):
    extra = {"adapter": "lora", "train_lm_head": True, "lora_dropout": 0.0, "num_generations": 4,
             "max_completion_length": 4}
    extra.update(kw.pop("extra", {}))
    base = dict(method="grpo", max_steps=20, batch_size=8, lr=5e-3, save_every=1000, seed=0, extra=extra)
    base.update(kw)
    return TrainConfig(**base)


def _accuracy(bb, root, items):
    """(mean probability of the correct letter, greedy generated accuracy, invalid rate)."""
    scores = bb.score_options(items, root)
    p = sum(math.exp(s[it.answer_index]) for s, it in zip(scores, items)) / len(items)
    letters = [parse_answer(t, it.options).letter for t, it in zip(bb.generate(items, root, max_new_tokens=4), items)]
    acc = sum(L == it.answer_choice for L, it in zip(letters, items)) / len(items)
    return p, acc, sum(L is None for L in letters) / len(items)


def _flat(scores):
    return [x for row in scores for x in row]


@pytest.mark.parametrize("family", FAMILIES)
def test_grpo_prompt_is_the_sft_and_evaluation_prompt(tmp_path, data, family):
    """The tokens TRL builds from a GRPO row (as GRPOTrainer does) are the scoring prompt's."""
    from trl.data_utils import prepare_multimodal_messages

    root, items = data
    bb = BACKBONES.get(family).load(build_tiny(family, tmp_path / "m", seed=0))
    rows = prompt_dataset(items[:2], root)
    for i, item in enumerate(items[:2]):
        row = rows[i]
        assert row["item_id"] == item.item_id
        prompt = prepare_multimodal_messages(row["prompt"], images=[row["image"]])
        got = bb.processor.apply_chat_template(conversation=[prompt], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"][0]
        want = encode(bb.processor, [item_messages(item, root, False)], train=False, image_kwargs=bb.image_kwargs)
        assert list(got) == want["input_ids"][0].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2-vl", "llava"])
def test_grpo_lora_raises_accuracy_and_logs_rewards(tmp_path, data, warm, family):
    root, items = data
    bb = BACKBONES.get(family).load(warm(family))
    before = _accuracy(bb, root, items)
    facts = bb.fit(items, root, tmp_path / "out", _grpo(extra={"save_base": True}))
    after = _accuracy(bb, root, items)
    assert before[0] < 0.6 and after[0] > before[0] + 0.25 and after[1] >= 0.75 and after[2] == 0, (before, after)
    d = facts.details
    assert d["method"] == "grpo" and d["adapter"] == "lora" and d["num_generations"] == 4
    assert [s for s, _ in d["rewards"]] == list(range(1, 21)) and d["reward_curves"]["answer"] == d["rewards"]
    assert sum(r for _, r in d["rewards"][-5:]) > sum(r for _, r in d["rewards"][:5])
    assert [s for s, _ in facts.losses] == list(range(1, 21)) and "kl" not in d
    # the adapter (saved with its base) reproduces the trained model's answers
    out = tmp_path / "out"
    assert (out / "adapter_config.json").is_file() and (out / "base").is_dir() and not (out / "ref").exists()
    reloaded = BACKBONES.get(family).load(out)
    assert reloaded.method == "grpo"
    assert _flat(reloaded.score_options(items, root)) == pytest.approx(_flat(bb.score_options(items, root)), abs=1e-5)


@pytest.mark.slow
def test_grpo_full_with_kl_learns_and_reloads(tmp_path, data, warm):
    root, items = data
    bb = BACKBONES.get("qwen2-vl").load(warm("qwen2-vl"))
    before = _accuracy(bb, root, items)
    facts = bb.fit(items, root, tmp_path / "out", _grpo(lr=2e-3, extra={"adapter": "full", "beta": 0.04}))
    after = _accuracy(bb, root, items)
    assert after[0] > before[0] + 0.2 and after[1] >= 0.75, (before, after)
    assert facts.details["adapter"] == "full" and len(facts.details["kl"]) == 20
    assert all(v >= 0 for _, v in facts.details["kl"]) and max(v for _, v in facts.details["kl"]) > 0
    assert (tmp_path / "out" / "model.safetensors").is_file()
    reloaded = BACKBONES.get("qwen2-vl").load(tmp_path / "out")
    assert _flat(reloaded.score_options(items, root)) == pytest.approx(_flat(bb.score_options(items, root)), abs=1e-5)


class _Interrupt(Exception):
    pass


class _Steps(FitCallback):
    def __init__(self, stop_at=None):
        self.ran, self.losses, self.stop_at = [], [], stop_at

    def on_step(self, step, total, loss):
        if loss is None:
            self.ran.append(step)
            if step == self.stop_at:
                raise _Interrupt
        else:
            self.losses.append(step)


@pytest.mark.slow
def test_grpo_resumes_from_its_checkpoint(tmp_path, data, warm):
    root, items = data
    cfg = _grpo(max_steps=4, save_every=2)
    with pytest.raises(_Interrupt):
        BACKBONES.get("qwen2-vl").load(warm("qwen2-vl")).fit(items, root, tmp_path / "run", cfg, [_Steps(stop_at=3)])
    assert sorted(p.name for p in (tmp_path / "run" / CHECKPOINTS).glob("checkpoint-*")) == ["checkpoint-2"]
    resumed, steps = BACKBONES.get("qwen2-vl").load(warm("qwen2-vl")), _Steps()
    facts = resumed.fit(items, root, tmp_path / "run", cfg, [steps])
    assert facts.resumed_from == 2 and facts.steps == 4 and steps.ran == [3, 4] and steps.losses == [3, 4]
    assert [s for s, _ in facts.details["rewards"]] == [1, 2, 3, 4]  # the log continues the checkpoint's
    straight = BACKBONES.get("qwen2-vl").load(warm("qwen2-vl"))
    ref = straight.fit(items, root, tmp_path / "straight", cfg)
    assert facts.details["rewards"] == ref.details["rewards"]
    assert _flat(resumed.score_options(items, root)) == pytest.approx(_flat(straight.score_options(items, root)),
                                                                      abs=1e-4)


def test_grpo_bad_settings_say_what_to_change(tmp_path, data):
    root, items = data
    bb = BACKBONES.get("qwen2-vl").load(build_tiny("qwen2-vl", tmp_path / "m", seed=0))
    with pytest.raises(ValueError, match="2 or more"):
        bb.fit(items, root, tmp_path / "o", _grpo(extra={"num_generations": 1}))
    with pytest.raises(ValueError, match="multiple of num_generations"):
        bb.fit(items, root, tmp_path / "o", _grpo(batch_size=6))
    with pytest.raises(ValueError, match="lora_rank"):
        bb.fit(items, root, tmp_path / "o", _grpo(extra={"lora_rank": 4}))
    with pytest.raises(ValueError, match="adapter"):
        bb.fit(items, root, tmp_path / "o", _grpo(extra={"adapter": "qlora"}))
    template = bb.processor.chat_template
    bb.processor.chat_template = template.replace("add_generation_prompt", "false")
    with pytest.raises(ValueError, match="no generation prompt"):
        bb.fit(items, root, tmp_path / "o", _grpo())
    bb.processor.chat_template = template


@pytest.mark.slow
def test_grpo_stops_when_no_reward_is_ever_earned(tmp_path, data, warm):
    root, items = data
    unanswerable = [dataclasses.replace(it, answer_choice="C") for it in items]  # no completion can be right
    bb = BACKBONES.get("qwen2-vl").load(warm("qwen2-vl"))
    with pytest.raises(ZeroRewardError, match="first 2 steps.*method lora or full first"):
        bb.fit(unanswerable, root, tmp_path / "z", _grpo(max_steps=4, extra={"zero_reward_steps": 2}))
    bb = BACKBONES.get("qwen2-vl").load(warm("qwen2-vl"))
    with pytest.warns(UserWarning, match="answer stayed 0"):  # the format reward is earned, the answer never
        bb.fit(unanswerable, root, tmp_path / "w", _grpo(max_steps=2, extra={
            "zero_reward_steps": 2, "rewards": {"answer": 1.0, "format": 0.5}}))


# TRL's GRPOTrainer recomputes log-probabilities without Mllama's cross-attention inputs.
NO_GRPO = {"llama-3.2-vision": "aspect_ratio_ids, aspect_ratio_mask, cross_attention_mask"}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_with_grpo(tmp_path, data, family):
    root, items = data
    bb = BACKBONES.get(family).load(build_tiny(family, tmp_path / "m", seed=0))
    if family in NO_GRPO:
        with pytest.raises(ValueError, match=f"does not pass {NO_GRPO[family]} .*method lora or full"):
            bb.fit(items, root, tmp_path / "out", _grpo(max_steps=2))
        return
    facts = bb.fit(items, root, tmp_path / "out", _grpo(max_steps=2, extra={"zero_reward_steps": 0}))
    assert facts.steps == 2 and len(facts.details["rewards"]) == 2 and len(facts.losses) == 2
    assert facts.details["chat_template"]["end_of_turn"] == bb.supervision.end_of_turn
    assert (tmp_path / "out" / "adapter_config.json").is_file()
