"""Rewards of the RL method (``method: grpo``): the registry, each reward's table of cases, the
shared RL settings and the advice a bad setting or a silent reward gets."""

from __future__ import annotations

import warnings

import pytest

from medmat.models import TrainConfig
from medmat.models.rewards import (
    ANSWER_CHECKS, REWARDS, RLSettings, ZeroRewardError, ZeroRewardWatch, answer_kind, box_iou, prompts_per_step,
)
from medmat.records import VQAItem, format_question_choice

OPTIONS = ["normal", "tumor", "cyst"]


def _item(answer_index: int = 1, options: list[str] = OPTIONS) -> VQAItem:
    q = "Which finding does this CT image of the lung show?"
    return VQAItem(
        id=0, caption="", image="x.png", question=q, answer=options[answer_index],
        question_choice=format_question_choice(q, options), answer_choice="ABCD"[answer_index], data_no="t",
        item_id="i0", triplet="CT/Lung/Finding", subset="t", split="train", dataset="toy", source_record="0",
        options=options, answer_index=answer_index, labels=[options[answer_index]],
    )


# completion -> (answer reward, format reward) for an item whose answer is B ("tumor")
CASES = [
    ("B", 1.0, 1.0),
    ("(b)", 1.0, 1.0),
    ("The answer is B.", 1.0, 1.0),
    ("B. tumor", 1.0, 1.0),
    ("tumor", 1.0, 1.0),
    ("A", 0.0, 1.0),
    ("C: cyst", 0.0, 1.0),
    ("B or C", 0.0, 0.0),  # two letters: invalid
    ("B. normal", 0.0, 0.0),  # letter contradicts its text
    ("D", 0.0, 0.0),  # out of range
    ("", 0.0, 0.0),
    ("I cannot tell from this image.", 0.0, 0.0),
    ("not a tumor", 0.0, 0.0),
]


@pytest.mark.parametrize("completion,answer,fmt", CASES)
def test_answer_and_format_rewards_follow_the_parser(completion, answer, fmt):
    item = _item()
    assert REWARDS.get("answer")(completion, item) == answer
    assert REWARDS.get("format")(completion, item) == fmt


@pytest.mark.parametrize("name", REWARDS.names())
def test_every_registered_reward_is_a_number_in_0_1(name):
    item = _item()
    for completion, *_ in CASES:
        value = REWARDS.get(name)(completion, item)
        assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_answer_checks_cover_every_item_kind():
    assert answer_kind(_item()) in ANSWER_CHECKS
    assert ANSWER_CHECKS.get("choice")("B", _item()) is True


@pytest.mark.parametrize("a,b,iou", [
    ((0, 0, 2, 2), (0, 0, 2, 2), 1.0),
    ((0, 0, 2, 2), (1, 0, 3, 2), 1 / 3),
    ((0, 0, 1, 1), (2, 2, 3, 3), 0.0),
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
])
def test_box_iou(a, b, iou):
    assert box_iou(a, b) == pytest.approx(iou)


def test_method_grpo_is_a_train_config():
    assert TrainConfig(method="grpo").method == "grpo"


def test_settings_defaults_and_weights():
    s = RLSettings()
    assert (s.num_generations, s.beta, s.temperature, s.rewards, s.zero_reward_steps) == (8, 0.0, 1.0, {"answer": 1.0}, 20)
    fns = RLSettings(rewards={"format": 0.5, "answer": 1.0}).reward_fns()
    assert [(n, w) for n, _, w in fns] == [("format", 0.5), ("answer", 1.0)]


@pytest.mark.parametrize("extra,message", [
    ({"num_generations": 1}, "num_generations .* 2 or more"),
    ({"rewards": {"answr": 1.0}}, "did you mean 'answer'"),
    ({"rewards": {}}, "at least one"),
    ({"rewards": {"answer": 0.0}}, "positive weight"),
    ({"rewards": {"answer": float("nan")}}, "finite"),
    ({"temperature": 0}, "temperature"),
    ({"group_size": 4}, "group_size"),  # unknown keys are errors
])
def test_bad_settings_say_what_to_change(extra, message):
    with pytest.raises(ValueError, match=message):
        RLSettings(**extra)


def test_group_must_fit_the_batch():
    assert prompts_per_step(16, 4) == 4
    with pytest.raises(ValueError, match="multiple of num_generations = 4.*batch_size"):
        prompts_per_step(6, 4)


def test_zero_rewards_stop_with_advice_and_silent_rewards_warn():
    s = RLSettings(rewards={"answer": 1.0, "format": 0.5}, zero_reward_steps=3)
    watch = ZeroRewardWatch(s)
    watch.update(1, {"answer": 0.0, "format": 0.0})
    watch.update(2, {"answer": 0.0, "format": 0.0})
    with pytest.raises(ZeroRewardError, match="first 3 steps.*method lora or full first"):
        watch.update(3, {"answer": 0.0, "format": 0.0})

    watch = ZeroRewardWatch(s)
    watch.update(1, {"answer": 0.0, "format": 0.25})
    with pytest.warns(UserWarning, match="answer stayed 0"):
        watch.update(3, {"answer": 0.0, "format": 0.0})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for watch in (ZeroRewardWatch(s, start=3), ZeroRewardWatch(s.model_copy(update={"zero_reward_steps": 0}))):
            for step in (4, 5):  # resumed past the check, or the check switched off
                watch.update(step, {"answer": 0.0, "format": 0.0})
