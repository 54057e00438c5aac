"""The reference model's RL fit (``method: grpo``): group-relative policy gradient over its options.

The toy set is trivially learnable for this model: the answer is always the option "tumor"
(its letter alternates), so a policy that prefers the word "tumor" is always right.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")

from medmat.models import BACKBONES, FitCallback, TrainConfig  # noqa: E402
from medmat.models.rewards import ZeroRewardError  # noqa: E402
from medmat.models.tiny import write_tiny_store  # noqa: E402

SMALL = dict(image_size=16, channels=(8, 16), dim=16, seed=0)


def _answer(item, index):
    return dataclasses.replace(item, answer_index=index, answer_choice="ABCD"[index], answer=item.options[index])


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl-ref")
    items = write_tiny_store(root, n_items=16, seed=0, splits=("train",))
    return root, [_answer(it, it.options.index("tumor")) for it in items]


def _cfg(**kw):
    base = dict(method="grpo", seed=0, max_steps=30, batch_size=16, lr=3e-3, save_every=1000,
                extra={"threads": 1, "num_generations": 4})
    base.update(kw)
    return TrainConfig(**base)


def _fresh():
    return BACKBONES.get("reference").load(None, threads=1, **SMALL)


def _p_correct(bb, root, items):
    """Mean probability of the correct option, and argmax accuracy."""
    scores = bb.score_options(items, root)
    p = sum(math.exp(s[it.answer_index]) for s, it in zip(scores, items)) / len(items)
    acc = sum(max(range(len(s)), key=s.__getitem__) == it.answer_index for s, it in zip(scores, items)) / len(items)
    return p, acc


class _Steps(FitCallback):
    def __init__(self, stop_at=None):
        self.seen, self.stop_at = [], stop_at

    def on_step(self, step, total, loss):
        self.seen.append((step, total, loss))
        if step == self.stop_at:
            raise KeyboardInterrupt


def test_rl_raises_accuracy_and_logs_rewards(tmp_path, toy):
    root, items = toy
    bb = _fresh()
    p0, acc0 = _p_correct(bb, root, items)
    steps = _Steps()
    facts = bb.fit(items, root, tmp_path / "out", _cfg(), [steps])
    p1, acc1 = _p_correct(bb, root, items)
    assert abs(p0 - 0.5) < 0.1 and p1 > 0.9 and acc1 == 1.0, (p0, acc0, p1, acc1)
    assert [s for s, _, _ in steps.seen] == list(range(1, 31)) and all(loss is not None for *_, loss in steps.seen)
    d = facts.details
    assert d["method"] == "grpo" and d["num_generations"] == 4 and d["prompts_per_step"] == 4
    assert [s for s, _ in d["rewards"]] == list(range(1, 31)) and d["reward_curves"]["answer"] == d["rewards"]
    first, tail = d["rewards"][0][1], [r for _, r in d["rewards"][-5:]]
    assert sum(tail) / 5 >= 0.95 and sum(tail) / 5 > first + 0.25  # rewards rise from about chance
    assert len(facts.losses) == 30 and facts.final_loss is not None and "kl" not in d
    # the saved model answers exactly like the trained one
    reloaded = BACKBONES.get("reference").load(tmp_path / "out", threads=1)
    assert reloaded.score_options(items, root) == bb.score_options(items, root)


def test_rl_is_deterministic_and_resumes_exactly(tmp_path, toy):
    root, items = toy
    cfg = _cfg(max_steps=6, save_every=2)
    straight = _fresh()
    ref = straight.fit(items, root, tmp_path / "a", cfg)
    with pytest.raises(KeyboardInterrupt):
        _fresh().fit(items, root, tmp_path / "b", cfg, [_Steps(stop_at=5)])
    resumed, steps = _fresh(), _Steps()
    facts = resumed.fit(items, root, tmp_path / "b", cfg, [steps])
    assert facts.resumed_from == 4 and [s for s, _, _ in steps.seen] == [5, 6]
    assert facts.details["rewards"] == ref.details["rewards"] and facts.losses == ref.losses
    assert resumed.score_options(items, root) == straight.score_options(items, root)
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="different run"):  # another starting model
        BACKBONES.get("reference").load(None, threads=1, **{**SMALL, "seed": 1}).fit(
            items, root, tmp_path / "b", cfg.model_copy(update={"max_steps": 8}))


def test_kl_keeps_the_policy_near_its_start(tmp_path, toy):
    root, items = toy
    free, held = _fresh(), _fresh()
    free.fit(items, root, tmp_path / "free", _cfg())
    facts = held.fit(items, root, tmp_path / "held", _cfg(extra={"threads": 1, "num_generations": 4,
                                                                               "beta": 5.0}))
    kl = [v for _, v in facts.details["kl"]]
    assert len(kl) == 30 and all(v >= 0 for v in kl) and max(kl) < 0.2 and kl[-1] < 0.01
    p_held, p_free = _p_correct(held, root, items)[0], _p_correct(free, root, items)[0]
    assert p_held < p_free - 0.2, (p_held, p_free)


def test_bad_settings_and_silent_rewards_are_clear_errors(tmp_path, toy):
    root, items = toy
    with pytest.raises(ValueError, match="2 or more"):
        _fresh().fit(items, root, tmp_path / "o", _cfg(extra={"num_generations": 1}))
    with pytest.raises(ValueError, match="multiple of num_generations"):
        _fresh().fit(items, root, tmp_path / "o", _cfg(batch_size=6))
    with pytest.raises(ValueError, match="max_completion_length"):  # an HF-only setting
        _fresh().fit(items, root, tmp_path / "o", _cfg(extra={"max_completion_length": 8}))
    # answers no completion can match: the reward stays 0, training stops with advice
    unanswerable = [dataclasses.replace(it, answer_choice="C") for it in items]
    with pytest.raises(ZeroRewardError, match="first 3 steps"):
        _fresh().fit(unanswerable, root, tmp_path / "z", _cfg(extra={"threads": 1, "num_generations": 4,
                                                                    "zero_reward_steps": 3}))
