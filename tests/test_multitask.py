"""Multi-task vs single-task (plan.kind: multi-task): small synthetic subsets, the paper's
in/out-of-distribution division, the arms and their invariants, and the numbers of the table."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.plan_store import DEMO_SUBSETS, write_demo_store
from medmat.plan import PlanConfig, PlanError, check_manifest, load_manifest, plan_targets
from medmat.plan.multitask import IN, OUT, partners
from medmat.store import VQAStore
from medmat.study.aggregate import Collected
from medmat.study.multitask import multitask_summaries, ranks, spearman_test
from medmat.study.results import ResultRow
from medmat.synth import SynthConfig, render, sample_latents
from medmat.synth.sample import small_triplets

CAP = 20
SIZES = {"o1": (10, 8), "m1": (0, 8), "b1": (30, 0)}  # o1, m1 below the cap; b1 has no test items


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    store = VQAStore(write_demo_store(root / "store", sizes=SIZES))
    outcome = plan_targets(store, PlanConfig(kind="multi-task", all_targets=True, cap=CAP), root / "plans", fmt="json")
    return store, outcome, {m.target_subset: m for m in map(load_manifest, outcome.manifests)}


def test_division_is_the_papers_rule(plan):
    _, outcome, manifests = plan
    div = outcome.index["division"]
    assert div["cap"] == CAP and "fewer training items than the cap" in div["rule"]
    roles = {sid: v["role"] for sid, v in div["subsets"].items()}
    assert roles == {sid: OUT if sid in ("o1", "m1") else IN for sid in DEMO_SUBSETS}
    assert set(manifests) == set(DEMO_SUBSETS) - {"b1"}  # every subset with test items is tested
    assert {m.settings["role"] for sid, m in manifests.items()} == {IN, OUT}
    assert manifests["o1"].settings == {**manifests["o1"].settings, "role": OUT, "train_items": 10}


def test_arms_single_task_alone_multi_task_identical_everywhere(plan):
    store, _, manifests = plan
    ids = sorted(sid for sid in DEMO_SUBSETS if sid not in ("o1", "m1"))
    multi = {sid: m.arm("multi-task") for sid, m in manifests.items()}
    first = next(iter(multi.values()))
    assert all(a.train == first.train for a in multi.values())  # one training for the whole study
    assert first.train_subsets == ids and "o1" not in first.train_subsets
    assert "04-train-0000" not in first.train and first.dropped_leaks == 1  # its image is a test image of 03
    by_id = store.by_id()
    for sid, m in manifests.items():
        assert [a.name for a in m.arms][0] == "zero-shot"
        if m.settings["role"] == IN:
            single = m.arm("single-task")
            assert single.train_subsets == [sid] and {by_id[i].subset for i in single.train} == {sid}
            assert single.n_train == CAP  # its capped items (the planted leak is a test image of 03 only)
        else:
            assert [a.kind for a in m.arms] == ["zero-shot", "multi-task"]
            assert "out-of-distribution" in m.skipped[0].reason and m.skipped[0].name == "single-task"
        assert check_manifest(m, store) == []  # training on the target is allowed for these kinds


def test_invariants_catch_a_single_task_arm_on_other_subsets(plan):
    store, _, manifests = plan
    m = manifests["03"]
    bad = m.arm("single-task").model_copy(update={"train_subsets": ["03", "04"]})
    broken = m.model_copy(update={"arms": [bad if a.name == "single-task" else a for a in m.arms]})
    assert any("single-task arm trains on its target subset" in p for p in check_manifest(broken, store))
    ood = manifests["o1"]
    leaky = ood.arm("multi-task").model_copy(update={"train_subsets": sorted(["o1"] + ood.arm("multi-task").train_subsets)})
    broken = ood.model_copy(update={"arms": [leaky if a.name == "multi-task" else a for a in ood.arms]})
    assert any("out-of-distribution target" in p for p in check_manifest(broken, store))


def test_plan_config_keeps_the_kinds_apart(tmp_path):
    assert PlanConfig(kind="multi-task", all_targets=True).arms == ["zero-shot", "single-task", "multi-task"]
    with pytest.raises(ValueError, match="multi-task plan has the arms"):
        PlanConfig(kind="multi-task", all_targets=True, arms=["zero-shot", "related"])
    with pytest.raises(ValueError, match="set kind: multi-task"):
        PlanConfig(all_targets=True, arms=["zero-shot", "single-task"])
    store = VQAStore(write_demo_store(tmp_path / "store"))
    with pytest.raises(PlanError, match="needs a cap"):
        plan_targets(store, PlanConfig(kind="multi-task", all_targets=True, cap=0), tmp_path / "p", require_all=True)


def test_partners_per_element(plan):
    _, outcome, _ = plan
    div = outcome.index["division"]["subsets"]
    p = partners(div, "03")  # CT/Lung/COVID-19: 04 shares M+A, k1 M+T, x1 A+T, x2 T, b1 M, t2 all three
    assert p["modality"] == ["04", "b1", "k1", "t2"] and p["area"] == ["04", "t2", "x1"]
    assert p["task"] == ["k1", "t2", "x1", "x2"] and "m1" not in p["area"]  # m1 is out-of-distribution


def test_small_triplets_keep_their_test_images_and_a_prefix_of_training():
    trips = ["CT/Brain/Lesion Presence", "MRI/Brain/Lesion Presence", "CT/Breast/Lesion Presence",
             "MRI/Kidney/Lesion Presence"]
    full = SynthConfig(per_label=6, test_fraction=0.34, triplets=trips)
    small = full.model_copy(update={"small_fraction": 0.5, "small_train": 1})
    assert SynthConfig.model_validate(small.model_dump()) == small
    chosen = small_triplets(small, [t for t in trips])  # type: ignore[arg-type]
    assert len(chosen) == 2 and chosen == small_triplets(small.model_copy(update={"seed": 7}), trips)  # type: ignore[arg-type]
    a, b = sample_latents(full), sample_latents(small)
    key = lambda x: (f"{x.modality}/{x.area}/{x.task}", x.label, x.index)  # noqa: E731
    by = {key(x): x for x in a}
    for x in b:
        assert x == by[key(x)]  # every image of the small config is the full config's image
    counts = {t: sum(1 for x in b if f"{x.modality}/{x.area}/{x.task}" == t and x.split == "train") for t in trips}
    assert {t: counts[t] for t in chosen} == {t: 2 for t in chosen}  # 1 per label, 2 labels
    assert all(counts[t] == 8 for t in trips if t not in chosen)
    assert render(b[0], 64).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="small_train"):
        SynthConfig(per_label=6, small_fraction=0.5)


def test_ranks_and_spearman():
    assert list(ranks(np.array([3.0, 1.0, 1.0, 2.0]))) == [4.0, 1.5, 1.5, 3.0]
    rho, p, lo, hi = spearman_test(np.arange(8.0), np.arange(8.0) ** 2, n_perm=2000, n_boot=200)
    assert rho == pytest.approx(1.0) and p < 0.01 and hi == pytest.approx(1.0)
    rho, p, _, _ = spearman_test(np.arange(8.0), -np.arange(8.0), n_perm=2000, n_boot=200)
    assert rho == pytest.approx(-1.0) and p < 0.01
    assert spearman_test(np.ones(5), np.arange(5.0)) == (None, None, None, None)


def _row(sid, kind, acc, seed):
    return ResultRow(target=f"T/{sid}/x", target_subset=sid, arm=kind, kind=kind, scorer="option", accuracy=acc,
                     ci_low=acc, ci_high=acc, n=4, chance=0.5, seed=seed)


def test_summary_numbers_come_from_the_rows_and_items():
    div = {"subsets": {"a": {"role": IN, "train_items": 9, "triplet": "CT/Brain/P"},
                       "b": {"role": IN, "train_items": 9, "triplet": "CT/Lung/P"},
                       "c": {"role": IN, "train_items": 9, "triplet": "MRI/Kidney/Q"},
                       "d": {"role": OUT, "train_items": 2, "triplet": "MRI/Brain/P"}},
           "rule": "r", "cap": 9}
    acc = {"a": (0.5, 0.5, 1.0), "b": (0.5, 0.75, 1.0), "c": (0.5, 0.75, 0.75), "d": (0.5, None, 0.75)}
    col = Collected(division=div)
    for seed in (0, 1):
        for sid, values in acc.items():
            for kind, a in zip(("zero-shot", "single-task", "multi-task"), values):
                if a is None:
                    continue
                col.rows.append(_row(sid, kind, a, seed))
                hits = int(round(a * 4))
                col.correct.setdefault(None, {})[(seed, "option", f"T/{sid}/x", kind)] = \
                    {f"{sid}{i}": i < hits for i in range(4)}
    (s,) = multitask_summaries(col, n_boot=200, seed=0)
    assert s.averages[IN]["single-task"].mean == pytest.approx((0.5 + 0.75 + 0.75) / 3)
    assert s.averages[IN]["multi-task"].mean == pytest.approx((1.0 + 1.0 + 0.75) / 3)
    assert s.averages[OUT]["multi-task"].mean == pytest.approx(0.75) and "single-task" not in s.averages[OUT]
    assert s.gains[IN].mean == pytest.approx((0.5 + 0.25 + 0.0) / 3)
    assert s.gains[OUT].mean == pytest.approx(0.25)  # OOD: multi-task minus untrained
    rows = {r.subset: r for r in s.subsets}
    assert rows["a"].gain.mean == pytest.approx(0.5) and rows["a"].partners["modality"] == ["b"]
    assert rows["a"].n_related == 1 and rows["c"].n_related == 0 and rows["d"].n_related == 3
    primary = [a for a in s.associations if a.primary]
    assert len(primary) == 1 and primary[0].role == IN and primary[0].n == 3
    assert s.paper[IN]["multi-task"] == 0.798 and s.paper[OUT]["multi-task"] == 0.453


TRIPLETS = ["CT/Brain/Lesion Presence", "MRI/Brain/Lesion Presence", "CT/Breast/Lesion Presence",
            "MRI/Kidney/Lesion Presence", "X-ray/Lung/Lesion Presence", "Dermoscopy/Kidney/Lesion Presence"]


@pytest.mark.slow
def test_a_tiny_multitask_study_end_to_end(tmp_path):
    from medmat.study.config import StudyConfig
    from medmat.study.results import StudyResults
    from medmat.study.runner import run_study

    cfg = StudyConfig.model_validate({
        "name": "tiny-mt", "seeds": [0, 1], "base_dir": str(tmp_path),
        "data": {"synth": {"per_label": 8, "test_fraction": 0.25, "small_fraction": 0.34, "small_train": 2,
                           "triplets": TRIPLETS}, "workers": 1},
        "plan": {"kind": "multi-task", "all_targets": True, "cap": 12},
        "model": {"backbone": "reference", "options": {"image_size": 32, "channels": [4, 8, 8], "dim": 16}},
        "train": {"max_steps": 4, "batch_size": 8, "save_every": 1000},
        "eval": {"scorers": ["option"], "batch_size": 64, "in_distribution": 0, "n_boot": 100}})
    run = run_study(cfg, tmp_path / "run")
    for seed in (0, 1):  # one multi-task training per seed, whatever the number of subsets tested
        trained = [n for n in run.log.ran if n.startswith(f"seed-{seed}/train/")]
        assert len(trained) == 4 + 1 + 1  # 4 single-task, 1 multi-task, 1 untrained model
    res = StudyResults.load(tmp_path / "run" / "results.json")
    (s,) = res.multitask
    assert s.seeds == [0, 1] and len(s.subsets) == 6 and {r.role for r in s.subsets} == {IN, OUT}
    assert set(s.averages[IN]) == {"zero-shot", "single-task", "multi-task"}
    report = run.report["markdown"].read_text()
    assert "Multi-task vs single-task" in report and "79.8" in report and "45.3" in report
    assert "Primary test (fixed in advance)" in report or "could not be tested" in report
    assert run.report["multitask-option"].is_file()
    assert "No related/unrelated comparison" not in report
