"""The VQA builder, splits and subset aggregation (records built in memory)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from medmat.records import CHOICE_SUFFIX, LabeledRecord
from medmat.vqa import (SubsetSpec, assign_splits, build_items, build_subsets, cap_report, letter_counts,
                        one_sided_labels, stratified_split)

TPL = [f"Template number {i}: what does this image show?" for i in range(6)]


def recs(counts: dict[str, int], dataset="d", group_size=0, split=None) -> list[LabeledRecord]:
    out, k = [], 0
    for label, n in counts.items():
        for i in range(n):
            k += 1
            g = f"p{k // group_size}" if group_size else None
            out.append(LabeledRecord(f"{dataset}-{k}", dataset, f"images/{k}.png", (label,), split, g))
    return out


def spec(labels, sid="03", multi=False) -> SubsetSpec:
    return SubsetSpec(sid, "CT/Lung/COVID-19 Classification", list(labels), TPL, multi_label=multi, datasets=["d"])


def all_train(rs):
    return {r.id: "train" for r in rs}


@pytest.mark.parametrize("n_labels,n_options", [(2, 2), (3, 3), (4, 4), (9, 4)])
def test_option_count_and_no_repeats(n_labels, n_options):
    labels = [f"L{i}" for i in range(n_labels)]
    rs = recs({lab: 5 for lab in labels})
    items, skips = build_items(rs, spec(labels), all_train(rs))
    assert not skips and len(items) == len(rs)
    for it in items:
        assert it.n_options == n_options and len(set(it.options)) == n_options
        assert it.options[it.answer_index] == it.answer == it.caption
        assert "ABCD"[it.answer_index] == it.answer_choice
        assert set(it.options) <= set(labels)


def test_medmat_schema_matches_released_record():
    rs = recs({"Cyst": 1, "Normal": 1, "Stone": 1, "Tumor": 1})
    it = build_items(rs, spec(["Cyst", "Normal", "Stone", "Tumor"], sid="02"), all_train(rs))[0][0]
    d = it.to_medmat()
    assert list(d) == ["id", "caption", "image", "Question", "Answer", "Question-choice", "Answer-choice", "data-no"]
    lines = d["Question-choice"].split("\n")
    assert lines[0] == d["Question"] and lines[-1] == CHOICE_SUFFIX
    assert lines[1:-1] == [f"{'ABCD'[i]}: {o}" for i, o in enumerate(it.options)]
    assert d["data-no"] == "2" and isinstance(d["id"], int)


def test_letter_balance_chi_square():
    labels = [f"L{i}" for i in range(5)]
    rs = recs({lab: 80 for lab in labels})
    splits = {r.id: ("test" if i % 10 == 0 else "train") for i, r in enumerate(rs)}
    items, _ = build_items(rs, spec(labels), splits, seed=3)
    for split in ("train", "test"):
        c = letter_counts(it for it in items if it.split == split)
        n = sum(c.values())
        assert max(c.values()) - min(c.values()) <= 1, c  # consecutive permutations: within one
        chi2 = sum((v - n / 4) ** 2 / (n / 4) for v in c.values())
        assert chi2 < 7.8  # 3 d.o.f., p = 0.05
    # the answer label is not tied to a letter either
    by_label = Counter((it.answer, it.answer_choice) for it in items)
    assert all(by_label[(lab, letter)] >= 8 for lab in labels for letter in "ABCD")


def test_deterministic_and_order_independent():
    labels = ["a", "b", "c", "d", "e"]
    rs = recs({lab: 20 for lab in labels})
    a, _ = build_items(rs, spec(labels), all_train(rs), seed=1)
    shuffled = rs[:]
    random.Random(0).shuffle(shuffled)
    b, _ = build_items(shuffled, spec(labels), all_train(rs), seed=1)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b]
    c, _ = build_items(rs, spec(labels), all_train(rs), seed=2)
    assert [x.item_id for x in a] == [x.item_id for x in c]  # ids do not depend on the seed
    assert [x.options for x in a] != [x.options for x in c]
    # template choice: spread over all templates, fixed per item
    assert set(x.template for x in a) == set(range(6))
    assert all(x.question == TPL[x.template] for x in a)


def test_multi_label_policy():
    labels = ["a", "b", "c", "d", "e"]
    rs = [LabeledRecord("r1", "d", "i1.png", ("a", "b")), LabeledRecord("r2", "d", "i2.png", ("a", "b", "c", "d")),
          LabeledRecord("r3", "d", "i3.png", ("a", "b", "c", "d", "e"))]
    items, skips = build_items(rs, spec(labels, multi=True), all_train(rs))
    r1 = [it for it in items if it.source_record == "r1"]
    assert sorted(it.answer for it in r1) == ["a", "b"]  # one question per true label
    for it in items:
        true = set(it.labels)
        assert not (set(it.options) - {it.answer}) & true  # no distractor is a true label
    r2 = [it for it in items if it.source_record == "r2"]
    assert len(r2) == 4 and all(it.n_options == 2 and "e" in it.options for it in r2)  # fewer options
    assert [s.reason for s in skips] == ["no-distractor"] and "r3" in skips[0].detail


def test_unknown_and_missing_labels_are_skipped():
    rs = [LabeledRecord("r1", "d", "i1.png", ("zzz",)), LabeledRecord("r2", "d", "i2.png", ()),
          LabeledRecord("r3", "d", "i3.png", ("a",))]
    items, skips = build_items(rs, spec(["a", "b"]), {"r1": "train", "r2": "train"})
    assert not items and sorted(s.reason for s in skips) == ["no-label", "no-split", "unknown-label"]


def test_stratified_split_is_9_to_1_per_label_and_seeded():
    rs = recs({"a": 100, "b": 50, "c": 10, "d": 1})
    s = stratified_split(rs, seed=0)
    per = Counter((r.labels[0], s[r.id]) for r in rs)
    assert per[("a", "test")] == 10 and per[("b", "test")] == 5 and per[("c", "test")] == 1
    assert per[("d", "train")] == 1 and per[("d", "test")] == 0
    assert s == stratified_split(list(reversed(rs)), seed=0)
    assert s != stratified_split(rs, seed=1)
    assert one_sided_labels(rs, s) == {"d": ["train"]}


def test_group_aware_split_keeps_groups_together():
    rs = recs({"a": 300, "b": 300}, group_size=7)
    s = stratified_split(rs, seed=5)
    sides: dict[str, set] = {}
    for r in rs:
        sides.setdefault(r.group, set()).add(s[r.id])
    assert all(len(v) == 1 for v in sides.values())
    n_test = sum(v == "test" for v in s.values())
    assert 0.06 * len(rs) < n_test < 0.14 * len(rs)


def test_own_split_kept_and_val_merged():
    rs = recs({"a": 5}, split="val") + recs({"b": 5}, dataset="e", split="test") + recs({"c": 20}, dataset="f")
    s = assign_splits(rs)
    assert all(s[r.id] == "train" for r in rs if r.split == "val")
    assert all(s[r.id] == "test" for r in rs if r.split == "test")
    assert Counter(s[r.id] for r in rs if r.split is None) == {"train": 18, "test": 2}
    assert assign_splits(rs, merge_val=False)[rs[0].id] == "val"


def test_subset_aggregation_and_cap():
    d1 = recs({"a": 30, "b": 10}, dataset="d1")
    d2 = recs({"c": 40, "b": 20}, dataset="d2", split="train") + recs({"c": 1}, dataset="d2x", split="train")
    sp = SubsetSpec("s", "CT/Lung/COVID-19 Classification", ["a", "b", "c"], TPL, datasets=["d1", "d2", "d2x"])
    (res,) = build_subsets({"d1": d1, "d2": d2, "d2x": d2x} if (d2x := d2[-1:]) else {}, [sp], seed=0)
    assert {it.dataset for it in res.items} == {"d1", "d2", "d2x"}
    assert all(it.n_options == 3 for it in res.items)  # distractors from the pooled labels
    assert any("'c' only in train" in w for w in res.warnings)
    rep = cap_report(res.items, 20, 0)
    assert rep["kept"] == 20 and rep["train"] == sum(it.split == "train" for it in res.items)
    empty = SubsetSpec("e", "CT/Lung/COVID-19 Classification", ["a", "b"], TPL, datasets=["nope"])
    (res2,) = build_subsets({}, [empty])
    assert not res2.items and any("no records" in w for w in res2.warnings)


def test_spec_validation():
    with pytest.raises(ValueError, match="templates"):
        SubsetSpec("x", "M/A/T", ["a"], [])
    with pytest.raises(ValueError, match="twice"):
        SubsetSpec("x", "M/A/T", ["a", "a"], TPL)


def test_build_restores_gc_state():
    import gc

    rs = recs({"a": 3, "b": 3})
    assert gc.isenabled()
    build_items(rs, spec(["a", "b"]), all_train(rs))
    assert gc.isenabled()
    gc.disable()
    try:
        build_items(rs, spec(["a", "b"]), all_train(rs))
        assert not gc.isenabled()
    finally:
        gc.enable()
