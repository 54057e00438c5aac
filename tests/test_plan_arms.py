"""The CG planner's arms: sources per direction type, exclusion of the target, leaks, sizes."""

from collections import Counter

import pytest

from medmat.mat import Triplet
from medmat.plan import DIRECTIONS, PlanConfig, PlanError, check_manifest, plan_target
from helpers.plan_store import DEMO_TARGET, write_demo_store
from medmat.plan.sampling import balanced_order, water_fill
from medmat.store import VQAStore

ALL_ARMS = ["zero-shot", "related", "unrelated", "leave-out", "low-data"]
FULL = frozenset({"modality", "area", "task"})
LEAK_ID = "04-train-0000"  # the planted copy of the target's first test image


def make_store(tmp_path, **kw) -> VQAStore:
    return VQAStore(write_demo_store(tmp_path / "store", **kw))


def shared(triplet: str) -> frozenset:
    return Triplet.parse(triplet).shared(Triplet.parse(DEMO_TARGET))


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path)


@pytest.fixture
def full_plan(store):
    return plan_target(store, DEMO_TARGET, PlanConfig(arms=ALL_ARMS, ks=[0, 5, 10, 20, 50]))


def test_related_arms_have_the_sources_of_their_direction_type(full_plan):
    expected = {
        "fixed-modality": ["04", "k1"], "fixed-area": ["04", "x1"], "fixed-task": ["k1", "x1"],
        "modality-area": ["04", "x2"], "area-task": ["b1", "x1"], "modality-task": ["k1", "m1"],
        "three-sources": ["b1", "m1", "x2"],
    }
    related = {a.direction: a for a in full_plan.arms if a.kind == "related"}
    assert {d: a.train_subsets for d, a in related.items()} == expected
    for d, arm in related.items():
        got = sorted(sorted(shared(s.triplet)) for s in arm.sources)
        assert got == sorted(sorted(p) for p in DIRECTIONS.get(d).parts)
        assert sorted(s.subset for s in arm.sources) == arm.train_subsets
        # sources jointly supply every element, none alone is the target
        assert frozenset().union(*(shared(s.triplet) for s in arm.sources)) == FULL


def test_target_triplet_never_trained_on_by_arms_that_exclude_it(store, full_plan):
    by_id = store.by_id()
    target = Triplet.parse(DEMO_TARGET)
    assert full_plan.settings["excluded_as_target"] == ["t2"]  # same task family: counts as the target
    for arm in full_plan.arms:
        subsets = {by_id[i].subset for i in arm.train}
        if arm.kind == "low-data":
            continue
        assert "03" not in subsets and "t2" not in subsets, arm.name
        assert all(Triplet.parse(by_id[i].triplet).shared(target) != FULL for i in arm.train)
    assert {by_id[i].subset for i in full_plan.arm("all-data").train} == {"04", "k1", "x1", "x2", "b1", "m1",
                                                                          "d1", "f1", "o1"}


def test_planted_leak_is_dropped_and_recorded(store, full_plan):
    for arm in full_plan.arms:
        assert LEAK_ID not in arm.train
        uses_04 = "04" in arm.train_subsets
        assert arm.dropped_leaks == (1 if uses_04 else 0), arm.name
        for s in arm.sources:
            assert s.dropped_leaks == (1 if s.subset == "04" else 0)
    assert check_manifest(full_plan, store) == []
    # a manifest edited to train on the leaked image is caught
    arm = full_plan.arm("related-fixed-area-1")
    bad = full_plan.model_copy(update={"arms": [arm.model_copy(update={
        "train": sorted(arm.train + [LEAK_ID]), "n_train": arm.n_train + 1, "matched_with": None})]})
    problems = check_manifest(bad, store)
    assert any("test image" in p for p in problems)


def test_related_and_unrelated_arms_are_matched_exactly(full_plan):
    related = [a for a in full_plan.arms if a.kind == "related"]
    assert len(related) == 7
    for arm in related:
        other = full_plan.arm(arm.matched_with)
        assert other.kind == "unrelated" and other.matched_with == arm.name
        assert other.n_train == arm.n_train > 0
        assert set(other.train_subsets) == {"d1", "f1", "o1"}


def test_unrelated_shortage_downsizes_both_or_fails_when_strict(tmp_path):
    store = make_store(tmp_path, sizes={"d1": (5, 8), "f1": (5, 8), "o1": (4, 8)})
    m = plan_target(store, DEMO_TARGET, PlanConfig(directions=["fixed-task", "three-sources"]))
    for arm in (a for a in m.arms if a.kind == "related"):
        assert arm.n_train == 14 and arm.downsized_from in (60, 90)
        assert m.arm(arm.matched_with).n_train == 14
        assert sorted(s.n for s in arm.sources) in ([7, 7], [4, 5, 5])  # still even across sources
    with pytest.raises(PlanError, match="hold only 14"):
        plan_target(store, DEMO_TARGET, PlanConfig(directions=["fixed-task"], strict_size=True))


def test_caps_are_honoured_and_labels_balanced(store):
    m = plan_target(store, DEMO_TARGET, PlanConfig(arms=["zero-shot", "related", "unrelated", "leave-out"], cap=12))
    by_id = store.by_id()
    for arm in m.arms:
        per_subset = Counter(by_id[i].subset for i in arm.train)
        assert all(n <= 12 for n in per_subset.values()), (arm.name, per_subset)
    x1 = Counter(by_id[i].answer for i in m.arm("all-related").train if by_id[i].subset == "x1")
    assert sorted(x1.values()) == [4, 4, 4]


def test_train_size_budget_is_shared_evenly(store):
    m = plan_target(store, DEMO_TARGET, PlanConfig(directions=["fixed-area"], train_size=31))
    arm = m.arm("related-fixed-area-1")
    assert arm.n_train == 31 and sorted(s.n for s in arm.sources) == [15, 16]


@pytest.mark.parametrize("sizes,total", [({"a": 5, "b": 100}, 50), ({"a": 10, "b": 10, "c": 10}, 10),
                                         ({"a": 3, "b": 7, "c": 7}, 17), ({"a": 1}, 0)])
def test_water_fill_is_as_even_as_sizes_allow(sizes, total):
    alloc = water_fill(sizes, total)
    assert sum(alloc.values()) == total and all(alloc[k] <= sizes[k] for k in sizes)
    short = [alloc[k] for k in sizes if alloc[k] < sizes[k]]  # sources that could give more
    assert not short or max(alloc.values()) - min(short) <= 1


def test_low_data_arms_are_nested_and_label_balanced(store, full_plan):
    by_id = store.by_id()
    sets = [set(full_plan.arm(f"low-data-k{k}").train) for k in (0, 5, 10, 20)]
    assert [len(s) for s in sets] == [0, 5, 10, 20]
    assert sets[0] <= sets[1] <= sets[2] <= sets[3]
    assert Counter(by_id[i].answer for i in sets[2]) == {"covid": 5, "normal": 5}
    assert all(by_id[i].subset == "03" and by_id[i].split == "train" for i in sets[3])
    plus = set(full_plan.arm("low-data-k10+related").train)
    assert plus == sets[2] | set(full_plan.arm("all-related").train)
    skipped = {s.name: s.reason for s in full_plan.skipped}
    assert "fewer than k=50" in skipped["low-data-k50"] and "low-data-k50+related" in skipped


def test_balanced_order_prefixes_are_balanced(store):
    order = balanced_order(store.items("x1", "train"), seed=3)
    assert Counter(it.answer for it in order[:9]) == {"covid": 3, "normal": 3, "viral": 3}
    assert [it.item_id for it in order] != [it.item_id for it in balanced_order(order, seed=4)]


def test_leave_out_arms_follow_their_definitions(full_plan):
    subsets = {a.name: set(a.train_subsets) for a in full_plan.arms if a.kind in ("leave-out", "all-data")}
    assert subsets["all-related"] == {"04", "k1", "x1", "x2", "b1", "m1"}
    assert subsets["all-unrelated"] == {"d1", "f1", "o1"}
    assert subsets["wo-modality"] == {"x1", "x2", "m1"}
    assert subsets["wo-area"] == {"k1", "x2", "b1"}
    assert subsets["wo-task"] == {"04", "b1", "m1"}
    assert full_plan.arm("all-data").kind == "all-data"


def test_direction_filter_and_limit(store):
    m = plan_target(store, DEMO_TARGET, PlanConfig(directions=["fixed-area"], max_per_direction=1))
    assert [a.name for a in m.arms] == ["zero-shot", "related-fixed-area-1", "unrelated-fixed-area-1"]


@pytest.mark.parametrize("target,sizes,config,message", [
    ("CT/Lung/COVID19 Classificaton", None, {}, "did you mean 'CT/Lung/COVID-19 Classification'"),
    (DEMO_TARGET, {"03": (30, 0)}, {}, "has no test items"),
    ("OCT/Retina/Retina Diseases Classification", None, {}, "supplies its modality 'OCT'"),
    (DEMO_TARGET, {"d1": (0, 8), "f1": (0, 8), "o1": (0, 8)}, {}, "no subset shares no element"),
    (DEMO_TARGET, {"x2": (0, 8), "b1": (0, 3)}, {"directions": ["three-sources"]},
     "three-sources lacks a subset sharing exactly {modality} and {task}"),
    (DEMO_TARGET, None, {"arms": ["unrelated"]}, "add 'related'"),
])
def test_infeasible_plans_say_what_is_missing(tmp_path, target, sizes, config, message):
    store = make_store(tmp_path, sizes=sizes)
    with pytest.raises(PlanError) as err:
        plan_target(store, target, PlanConfig(**config))
    assert message in str(err.value)


def test_unknown_arm_or_direction_names_are_rejected_with_suggestions():
    with pytest.raises(ValueError, match="did you mean 'fixed-area'"):
        PlanConfig(directions=["fixed-aera"])
    with pytest.raises(ValueError, match="did you mean 'related'"):
        PlanConfig(arms=["relatd"])
