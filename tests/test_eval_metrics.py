"""Metrics on hand-computed examples, and evaluate() end to end on fake backbones."""

from __future__ import annotations

import json

import pytest

from medmat.evaluate import (
    Prediction, compute_metrics, correct_by_item, evaluate, load_results, rotate_item, write_results,
)
from helpers.eval import FakeBackbone, make_item, make_items


def _row(i: int, pred, answer: str, n: int, scorer: str = "generate", subset: str = "02", rot: int = 0,
         triplet: str = "CT/Kidney/Kidney Disease Classification", how: str = "letter") -> Prediction:
    return Prediction(item_id=f"q{i}", subset=subset, triplet=triplet, scorer=scorer, rotation=rot, pred=pred,
                      parsed_how=how if pred else "unparsed", correct=pred == answer, n_options=n, answer=answer)


def test_metrics_hand_computed():
    rows = [
        _row(0, "A", "A", 2), _row(1, "A", "B", 2), _row(2, None, "C", 4), _row(3, "C", "C", 4),
        _row(4, "A", "A", 3, subset="05", triplet="MRI/Brain/Tumor Classification"),
    ]
    m = compute_metrics(rows, n_boot=200, seed=0)
    o = m["overall"]["generate"]
    assert o["n"] == 5 and o["n_correct"] == 3 and o["accuracy"] == pytest.approx(0.6)
    assert o["n_invalid"] == 1 and o["invalid_rate"] == pytest.approx(0.2)
    assert o["chance"] == pytest.approx((1 / 2 + 1 / 2 + 1 / 4 + 1 / 4 + 1 / 3) / 5)
    assert o["letter_distribution"] == {"A": 0.6, "B": 0.0, "C": 0.2, "D": 0.0, "invalid": 0.2}
    assert o["answer_distribution"] == {"A": 0.4, "B": 0.2, "C": 0.4, "D": 0.0}
    assert o["ci_low"] <= 0.6 <= o["ci_high"]
    assert o["how"] == {"letter": 4, "unparsed": 1}
    s02 = m["subsets"]["02"]["generate"]
    assert s02["n"] == 4 and s02["accuracy"] == pytest.approx(0.5)
    assert set(m["subsets"]) == {"02", "05"}
    assert m["targets"]["MRI/Brain/Tumor Classification"]["generate"]["accuracy"] == 1.0
    assert m["targets"]["MRI/Brain/Tumor Classification"]["generate"]["letter_distribution"] == {
        "A": 1.0, "B": 0.0, "C": 0.0, "invalid": 0.0}
    assert m["circular"] is False and "circular_accuracy" not in o


def test_metrics_refuse_duplicates_and_empty():
    with pytest.raises(ValueError, match="twice"):
        compute_metrics([_row(0, "A", "A", 2), _row(0, "B", "A", 2)])
    with pytest.raises(ValueError, match="no predictions"):
        compute_metrics([])


def test_rotate_item_moves_answer_and_rebuilds_question():
    it = make_item(1, n_options=4, answer_index=1)  # B: Cyst
    r = rotate_item(it, 1)
    assert r.options == ["Cyst", "Normal", "Tumor", "Stone"]
    assert (r.answer_index, r.answer_choice, r.answer) == (0, "A", "Cyst")
    assert r.question_choice.splitlines()[1:5] == ["A: Cyst", "B: Normal", "C: Tumor", "D: Stone"]
    assert rotate_item(it, 0) is it and rotate_item(it, 4) is it
    assert rotate_item(it, 3).answer_choice == "C" and it.answer_choice == "B"  # original untouched
    assert {rotate_item(it, k).answer_choice for k in range(4)} == set("ABCD")


def test_circular_always_a_model_scores_zero():
    items = make_items(30)  # 2..4 options, answers spread over positions
    res = evaluate(FakeBackbone("always-a"), items, "/nowhere", circular=True, batch_size=7, n_boot=200)
    plain_expected = sum(it.answer_index == 0 for it in items) / len(items)
    for scorer in ("option", "generate"):
        block = res.metrics["overall"][scorer]
        assert block["accuracy"] == pytest.approx(plain_expected)
        assert block["circular_accuracy"] == 0.0 and block["circular_ci_high"] == 0.0
        assert block["letter_distribution"]["A"] == 1.0  # position bias is visible
        assert block["rotations"]["n_rows"] == sum(it.n_options for it in items)
    assert abs(plain_expected - res.metrics["overall"]["option"]["chance"]) < 0.1  # ~ mean of 1/n
    oracle = evaluate(FakeBackbone("oracle"), items, "/nowhere", circular=True, n_boot=200)
    assert oracle.metrics["overall"]["option"]["circular_accuracy"] == 1.0
    assert oracle.metrics["overall"]["generate"]["circular_accuracy"] == 1.0


def test_evaluate_batches_progress_and_invalid_answers(tmp_path):
    items = make_items(10)
    gens = {items[0].item_id: "I cannot tell.", items[1].item_id: "A or B", items[2].item_id: items[2].answer}
    fake = FakeBackbone("oracle", generations=gens)
    seen = []
    res = evaluate(fake, items, tmp_path, batch_size=4, progress=lambda d, t: seen.append((d, t)), n_boot=100)
    assert fake.calls == [("score", 4), ("score", 4), ("score", 2), ("generate", 4), ("generate", 4), ("generate", 2)]
    assert seen[-1] == (20, 20) and len(seen) == 6
    opt, gen = res.metrics["overall"]["option"], res.metrics["overall"]["generate"]
    assert opt["accuracy"] == 1.0 and opt["invalid_rate"] == 0.0
    assert gen["n_invalid"] == 2 and gen["accuracy"] == pytest.approx(0.8)
    assert gen["how"] == {"announced": 7, "multiple": 1, "refusal": 1, "text": 1}
    by_id = {(p.item_id, p.scorer): p for p in res.predictions}
    bad = by_id[(items[0].item_id, "generate")]
    assert bad.pred is None and bad.raw == "I cannot tell." and bad.parsed_how == "refusal" and not bad.correct
    good = by_id[(items[3].item_id, "option")]
    assert good.scores is not None and len(good.scores) == items[3].n_options and good.parsed_how == "argmax"


def test_results_roundtrip_and_identical_bytes(tmp_path):
    items = make_items(12)
    r1 = evaluate(FakeBackbone("last"), items, tmp_path, circular=True, seed=3, n_boot=100)
    r2 = evaluate(FakeBackbone("last"), items, tmp_path, circular=True, seed=3, n_boot=100)
    a, b = write_results(r1, tmp_path / "a"), write_results(r2, tmp_path / "b")
    for f in ("predictions.jsonl", "metrics.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    back = load_results(a)
    assert back.predictions == r1.predictions
    assert back.metrics == json.loads(json.dumps(r1.metrics))
    row = json.loads((a / "predictions.jsonl").read_text().splitlines()[0])
    assert {"item_id", "subset", "triplet", "scorer", "rotation", "pred", "parsed_how", "raw", "correct",
            "n_options", "answer"} <= set(row)
    assert correct_by_item(back, "option") == {it.item_id: it.answer_index == it.n_options - 1 for it in items}
    assert not any(correct_by_item(back, "option", circular=True).values())
    with pytest.raises(FileNotFoundError, match="no evaluation results"):
        load_results(tmp_path / "missing")


def test_evaluate_rejects_bad_input():
    items = make_items(3)
    with pytest.raises(ValueError, match="unique"):
        evaluate(FakeBackbone(), items + items[:1], "/x")
    with pytest.raises(KeyError, match="did you mean"):
        evaluate(FakeBackbone(), items, "/x", scorers=("options",))
    with pytest.raises(ValueError, match="no items"):
        evaluate(FakeBackbone(), [], "/x")


def test_resume_reuses_rows_and_gives_identical_bytes(tmp_path):
    items = make_items(10)
    full = evaluate(FakeBackbone("last"), items, tmp_path, circular=True, batch_size=4, n_boot=100)
    saved = []
    first = FakeBackbone("last")
    with pytest.raises(RuntimeError):
        def stop_after_two(rows):
            saved.append(rows)
            if len(saved) == 2:
                raise RuntimeError("killed")
        evaluate(first, items, tmp_path, circular=True, batch_size=4, n_boot=100, on_batch=stop_after_two)
    partial = saved[-1]
    assert len(partial) == 8
    again = FakeBackbone("last")
    resumed = evaluate(again, items, tmp_path, circular=True, batch_size=4, n_boot=100, done=partial)
    asked = sum(n for _, n in again.calls)
    assert asked == 2 * sum(it.n_options for it in items) - 8
    a, b = write_results(full, tmp_path / "full"), write_results(resumed, tmp_path / "resumed")
    for f in ("predictions.jsonl", "metrics.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    wrong = [Prediction(**{**partial[0].to_dict(), "answer": "D" if partial[0].answer != "D" else "A"})]
    with pytest.raises(ValueError, match="another evaluation"):
        evaluate(FakeBackbone("last"), items, tmp_path, circular=True, done=wrong)


def test_paired_gain_between_two_arms(tmp_path):
    from medmat.evaluate import paired_gain

    items = make_items(60)
    good = evaluate(FakeBackbone("oracle"), items, tmp_path, scorers=("option",), n_boot=100)
    biased = evaluate(FakeBackbone("always-a"), items, tmp_path, scorers=("option",), n_boot=100)
    g = paired_gain(good, biased, "option", n_boot=500)
    expected = 1 - sum(it.answer_index == 0 for it in items) / len(items)
    assert g.estimate == pytest.approx(expected) and g.low > 0 and g.n == 60
    same = paired_gain(biased, biased, "option")
    assert same.estimate == 0 and same.contains(0.0)
    with pytest.raises(ValueError, match="different items"):
        paired_gain(good, evaluate(FakeBackbone(), items[:10], tmp_path, scorers=("option",), n_boot=10))


def test_fixture_items_are_consistent():
    for it in make_items(9):
        assert it.options[it.answer_index] == it.answer
        assert it.question_choice.splitlines()[1 + it.answer_index] == f"{it.answer_choice}: {it.answer}"
