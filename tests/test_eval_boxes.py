"""Evaluating localisation items: the box scorer, box metrics against hand-computed values,
box-choice through both letter scorers, circular rotation of box options, and rewards."""

from __future__ import annotations

import json

import pytest

from medmat.boxes import box_text, quantise, unit
from medmat.evaluate import compute_metrics, evaluate, rotations
from medmat.evaluate.predictions import Prediction
from medmat.models.rewards import ANSWER_CHECKS, answer_kind, answer_reward, format_reward
from medmat.records import LETTERS, LabeledRecord
from medmat.vqa import SubsetSpec, build_questions


def _items(builder: str, n: int = 8):
    recs = [LabeledRecord(f"r{i}", "ds", f"i{i}.png", ("polyp",), meta={"width": 500, "height": 250},
                          boxes=(("polyp", 50.0 + 10 * i, 25.0, 150.0 + 10 * i, 125.0),)) for i in range(n)]
    spec = SubsetSpec(f"39-{builder}", "End/Intestine/PolyP Det/Seg", ["polyp"], [f"T{i}: where is the {{finding}}?" for i in
                                                                       range(6)], datasets=["ds"], builder=builder)
    items, _ = build_questions(recs, spec, {r.id: "test" for r in recs}, 0)
    return items


class FakeBackbone:
    """Option scores favour option A; generation answers from a table keyed by item id."""

    name = "fake"

    def __init__(self, answers: dict[str, str] | None = None, default: str = "A"):
        self.answers, self.default = answers or {}, default

    def score_options(self, items, store_root, batch_size=8):
        return [[0.0] + [-1.0] * (it.n_options - 1) for it in items]

    def generate(self, items, store_root, max_new_tokens=16, batch_size=8):
        return [self.answers.get(it.item_id, self.default) for it in items]


def _row(i: int, iou: float | None, correct: bool, pred: str | None, how: str = "list") -> Prediction:
    return Prediction(item_id=f"g{i}", subset="39", triplet="t", scorer="box", rotation=0, pred=pred, parsed_how=how,
                      correct=correct, n_options=0, answer="[0, 0, 10, 10]", raw="x", iou=iou)


def test_box_metrics_against_hand_computed_values():
    rows = [_row(0, 1.0, True, "[0, 0, 10, 10]"), _row(1, 0.5, True, "[0, 0, 10, 5]"),
            _row(2, 0.4, False, "[0, 0, 4, 10]"), _row(3, 0.0, False, None, "unparsed")]
    block = compute_metrics(rows, n_boot=200)["overall"]["box"]
    assert block["kind"] == "box" and block["n"] == 4 and block["n_correct"] == 2
    assert block["accuracy"] == pytest.approx(0.5)  # Acc@0.5: IoU 1.0 and exactly 0.5 count
    assert block["mean_iou"] == pytest.approx((1.0 + 0.5 + 0.4 + 0.0) / 4)
    assert block["n_invalid"] == 1 and block["invalid_rate"] == pytest.approx(0.25)
    assert block["ci_low"] <= 0.5 <= block["ci_high"] and block["mean_iou_ci_low"] <= 0.475 <= block["mean_iou_ci_high"]
    assert block["how"] == {"list": 3, "unparsed": 1} and block["iou_threshold"] == 0.5
    again = compute_metrics(rows, n_boot=200)
    assert json.dumps(again, sort_keys=True) == json.dumps(compute_metrics(rows, n_boot=200), sort_keys=True)


def test_mean_iou_interval_with_many_distinct_values_is_seeded():
    rows = [_row(i, (i % 997) / 997, (i % 997) / 997 >= 0.5, "[0, 0, 1, 1]") for i in range(3000)]
    a = compute_metrics(rows, n_boot=100, seed=1)["overall"]["box"]
    b = compute_metrics(rows, n_boot=100, seed=1)["overall"]["box"]
    assert a == b and a["mean_iou_ci_low"] < a["mean_iou"] < a["mean_iou_ci_high"]


def test_grounding_items_are_scored_by_the_box_scorer_and_letters_by_both(tmp_path):
    ground, choice = _items("grounding"), _items("box-choice")
    truth = ground[0].answer
    q = quantise(ground[1].answer_box)
    answers = {ground[0].item_id: f"The polyp is at {truth}.",  # exact: IoU 1
               ground[1].item_id: box_text((q[0], q[1], q[2], (q[1] + q[3]) // 2)),  # half the box: IoU 0.5
               ground[2].item_id: "[0.1, 0.2, 0.3, 0.4]",  # 0-1 floats where 0-1000 was asked: invalid
               **{it.item_id: LETTERS[it.answer_index] for it in choice}}
    res = evaluate(FakeBackbone(answers, default="no idea"), ground + choice, tmp_path, n_boot=50)
    assert res.metrics["scorers"] == ["option", "generate", "box"]  # box added for the grounding items
    by = {(p.scorer, p.item_id): p for p in res.predictions}
    assert {p.scorer for p in res.predictions if p.item_id == ground[0].item_id} == {"box"}
    assert {p.scorer for p in res.predictions if p.item_id == choice[0].item_id} == {"option", "generate"}
    g0, g1, g2 = (by[("box", it.item_id)] for it in ground[:3])
    assert g0.correct and g0.iou == pytest.approx(1.0) and g0.pred == truth and g0.n_options == 0
    assert g1.correct and g1.iou == pytest.approx(0.5, abs=0.01)
    assert not g2.correct and g2.pred is None and g2.parsed_how == "wrong-scale" and g2.iou == 0.0
    assert "iou" in g0.to_dict() and "iou" not in by[("option", choice[0].item_id)].to_dict()
    overall = res.metrics["overall"]
    assert overall["box"]["kind"] == "box" and overall["box"]["n"] == len(ground)
    assert overall["generate"]["accuracy"] == 1.0 and overall["option"]["n"] == len(choice)
    assert overall["option"]["accuracy"] == pytest.approx(sum(it.answer_index == 0 for it in choice) / len(choice))


def test_a_classification_evaluation_is_unchanged_by_the_box_scorer(tmp_path):
    items = _items("box-choice")
    res = evaluate(FakeBackbone(), items, tmp_path, n_boot=20)
    assert res.metrics["scorers"] == ["option", "generate"]
    assert all("iou" not in p.to_dict() for p in res.predictions)
    with pytest.raises(ValueError, match="answer_box"):
        bad = _items("grounding")[0]
        bad.answer_box = None
        evaluate(FakeBackbone(), [bad], tmp_path)


def test_circular_rotation_moves_box_options_with_their_texts():
    item = _items("box-choice")[0]
    pairs = rotations(item, circular=True)
    assert [k for k, _ in pairs] == list(range(item.n_options))
    for _, rot in pairs:
        assert [box_text(quantise(b)) for b in rot.option_boxes] == rot.options
        assert rot.options[rot.answer_index] == item.answer and rot.option_boxes[rot.answer_index] == item.answer_box
    ground = _items("grounding")[0]
    assert rotations(ground, circular=True) == [(0, ground)]


def test_rewards_judge_each_kind_by_its_own_check():
    ground, choice = _items("grounding")[0], _items("box-choice")[0]
    assert answer_kind(ground) == "box" and answer_kind(choice) == "choice"
    assert set(ANSWER_CHECKS.names()) >= {"box", "choice"}
    assert answer_reward(f"<|box_start|>({ground.answer[1:-1].split(', ')[0]},"
                         f"{ground.answer[1:-1].split(', ')[1]}),({ground.answer[1:-1].split(', ')[2]},"
                         f"{ground.answer[1:-1].split(', ')[3]})<|box_end|>", ground) == 1.0
    assert answer_reward(ground.answer, ground) == 1.0 and format_reward(ground.answer, ground) == 1.0
    assert answer_reward("[0, 0, 10, 10]", ground) == 0.0 and format_reward("[0, 0, 10, 10]", ground) == 1.0
    assert answer_reward("somewhere left", ground) == 0.0 and format_reward("somewhere left", ground) == 0.0
    assert answer_reward(choice.answer_choice, choice) == 1.0 and format_reward("Z", choice) == 0.0
    assert unit(quantise(ground.answer_box)) == tuple(ground.answer_box)


@pytest.mark.slow
def test_a_tiny_hf_backbone_answers_box_choice_and_grounding(tmp_path):
    """An HF backbone asks both forms through text: box-choice by the option letters (both
    scorers), grounding by generated box text (the box scorer); nothing is left unscored."""
    pytest.importorskip("transformers")
    import numpy as np
    from PIL import Image

    import medmat.models.hf  # noqa: F401  (registers the HF families)
    from medmat.models import BACKBONES
    from medmat.models.tiny import build_tiny

    items = _items("box-choice", 4) + _items("grounding", 4)
    for it in items:
        path = tmp_path / it.image
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            Image.fromarray(np.full((250, 500, 3), 90, dtype=np.uint8)).save(path)
    model = BACKBONES.get("qwen2-vl").load(build_tiny("qwen2-vl", tmp_path / "tiny", seed=0))
    res = evaluate(model, items, tmp_path, max_new_tokens=8, n_boot=50)
    got = {(p.scorer, p.item_id) for p in res.predictions}
    choice = [it for it in items if it.kind == "box-choice"]
    ground = [it for it in items if it.kind == "grounding"]
    assert got == {(s, it.item_id) for it in choice for s in ("option", "generate")} | \
        {("box", it.item_id) for it in ground}
    overall = res.metrics["overall"]
    assert overall["option"]["n"] == len(choice) and overall["option"]["invalid_rate"] == 0.0
    assert overall["box"]["n"] == len(ground) and 0.0 <= overall["box"]["mean_iou"] <= 1.0
