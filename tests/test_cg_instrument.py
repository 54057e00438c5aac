"""The CG instrument (issue 14): a baseline that means chance, vocabulary-control arms, rows
chosen by rules fixed in advance, and seed-aware pooling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from helpers.plan_store import DEMO_TARGET, write_demo_store
from medmat.plan import PlanConfig, load_manifest, plan_target, plan_targets
from medmat.plan.controls import apply_transform
from medmat.store import VQAStore

SMALL = {"image_size": 32, "channels": [8, 8], "dim": 16}


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory):
    from medmat.build import BuildConfig, build
    from medmat.synth import SynthConfig

    root = tmp_path_factory.mktemp("synth")
    cfg = BuildConfig(synth=SynthConfig(seed=0, per_label=6, test_fraction=0.5))
    build(cfg, root / "store", work_dir=root / "data")
    return VQAStore(root / "store")


def _fit(store, items, tmp_path, seed=0, **opts):
    from medmat.models import ModelConfig, TrainConfig, open_backbone

    bb = open_backbone(ModelConfig(backbone="reference", options={**SMALL, **opts}), seed=seed)
    if items:
        bb.fit(items, store.root, tmp_path / f"m{seed}", TrainConfig(seed=seed, max_steps=15, batch_size=16, lr=3e-3))
    return bb


def _target_test(store, task="Lesion Presence"):
    sid = next(s for s, info in sorted(store.subsets().items()) if info.triplet.endswith("/" + task))
    return store.items(sid, "test")


def test_unseen_label_words_give_exact_ties_and_chance(synth_store, tmp_path):
    """Trained on tasks whose label words the target never uses, the model cannot tell the
    target's options apart: every option scores the same, the earliest letter wins, and the
    builder's letter balance makes that chance to within one item. The zero-shot model too."""
    test = _target_test(synth_store)
    target_words = {w for it in test for o in it.options for w in o.lower().split()}
    train = [it for it in synth_store.items(split="train") if "Quality" in it.triplet or "Laterality" in it.triplet]
    assert train and not target_words & {w for it in train for o in it.options for w in o.lower().split()}
    chance = float(np.mean([1 / it.n_options for it in test]))
    for bb in (_fit(synth_store, [], tmp_path), _fit(synth_store, train, tmp_path, seed=1)):
        scores = bb.score_options(test, synth_store.root)
        assert all(len(set(row)) == 1 for row in scores)  # bitwise ties
        acc = np.mean([it.answer_index == 0 for it in test])
        assert abs(acc - chance) <= 1 / len(test) + 1e-9


def test_words_learned_elsewhere_still_count(synth_store, tmp_path):
    """The same rule does not blank what was learned: trained on the target's own task on
    other subsets, the target's options no longer tie."""
    test = _target_test(synth_store)
    train = [it for it in synth_store.items(split="train") if it.triplet.endswith("/Lesion Presence")
             and it.subset != test[0].subset]
    bb = _fit(synth_store, train, tmp_path)
    assert any(len(set(row)) > 1 for row in bb.score_options(test, synth_store.root))


def test_hash_buckets_are_the_old_behaviour(synth_store, tmp_path):
    """With n_hash > 0 unseen words get random fixed vectors: options stop tying, which is
    what made medmat 0.1's unrelated baselines land far from chance."""
    test = _target_test(synth_store)
    bb = _fit(synth_store, [], tmp_path, n_hash=64)
    assert any(len(set(row)) > 1 for row in bb.score_options(test, synth_store.root))


@pytest.fixture()
def demo_store(tmp_path):
    return VQAStore(write_demo_store(tmp_path / "store"))


def test_control_arms_copy_their_arms_and_transform_items(demo_store):
    m = plan_target(demo_store, DEMO_TARGET, PlanConfig(arms=["zero-shot", "related", "unrelated", "controls"],
                                                        directions=["fixed-task"], max_per_direction=1))
    arms = {a.name: a for a in m.arms}
    rel, shuf = arms["related-fixed-task-1"], arms["related-shuffled-fixed-task-1"]
    unrel, vocab = arms["unrelated-fixed-task-1"], arms["unrelated-vocab-fixed-task-1"]
    assert (shuf.train, shuf.transform, shuf.controls) == (rel.train, "shuffle-answers", rel.name)
    assert (vocab.train, vocab.transform, vocab.controls) == (unrel.train, "target-vocab", unrel.name)
    by_id = demo_store.by_id()
    target_labels = demo_store.subsets()[m.target_subset].labels
    items = [by_id[i] for i in rel.train]
    shuffled = apply_transform("shuffle-answers", items, target_labels, shuf.seed)
    for sid in {it.subset for it in items}:  # label frequencies kept per subset, links broken
        before = Counter(it.answer for it in items if it.subset == sid)
        assert Counter(it.answer for it in shuffled if it.subset == sid) == before
    assert any(a.answer != b.answer for a, b in zip(items, shuffled))
    assert all(it.options[it.answer_index] == it.answer and it.question_choice.count("\n") == len(it.options) + 1
               for it in shuffled)
    assert shuffled == apply_transform("shuffle-answers", items, target_labels, shuf.seed)  # seeded
    worded = apply_transform("target-vocab", [by_id[i] for i in unrel.train], target_labels, vocab.seed)
    assert all(set(it.options) <= set(target_labels) and it.answer in target_labels for it in worded)
    assert {it.answer for it in worded} == set(target_labels)


def test_control_arms_never_share_a_model_with_their_arm(demo_store):
    from medmat.models import ModelConfig, TrainConfig
    from medmat.train import train_key
    from medmat.train.run import arm_transform

    m = plan_target(demo_store, DEMO_TARGET, PlanConfig(arms=["zero-shot", "related", "unrelated", "controls"],
                                                        directions=["fixed-task"], max_per_direction=1))
    keys = {a.name: train_key(m.store_fingerprint, a.train, ModelConfig(), TrainConfig(),
                              arm_transform(a, m.target_subset)) for a in m.arms}
    assert keys["related-fixed-task-1"] != keys["related-shuffled-fixed-task-1"]
    assert keys["unrelated-fixed-task-1"] != keys["unrelated-vocab-fixed-task-1"]


def test_rows_per_target_balances_direction_types_and_the_draw_is_fixed(synth_store, tmp_path):
    four = ["fixed-modality", "fixed-area", "fixed-task", "modality-area"]
    cfg = PlanConfig(all_targets=True, directions=four, max_per_direction=1, rows_per_target=1)
    out = plan_targets(synth_store, cfg, tmp_path / "a", fmt="json")
    dirs = Counter(d for row in out.index["targets"] for d in row["directions"])
    assert all(len(row["directions"]) == 1 for row in out.index["targets"])
    assert set(dirs) == set(four) and max(dirs.values()) - min(dirs.values()) <= len(out.index["targets"]) // 2
    drawn = []
    for seed in (0, 5):  # the plan seed changes per study seed; the draw does not
        c = PlanConfig(all_targets=True, directions=["fixed-task"], max_per_direction=1, sample_targets=3, seed=seed)
        drawn.append([r["target"] for r in plan_targets(synth_store, c, tmp_path / f"d{seed}", fmt="json").index["targets"]])
    assert drawn[0] == drawn[1] and len(drawn[0]) == 3
    other = PlanConfig(all_targets=True, directions=["fixed-task"], max_per_direction=1, sample_targets=3, draw_seed=1)
    assert [r["target"] for r in plan_targets(synth_store, other, tmp_path / "e", fmt="json").index["targets"]] != drawn[0]
    manifest = load_manifest(out.manifests[0])
    assert manifest.settings["rows_per_target"] == 1


def test_two_level_interval_reflects_both_levels():
    from medmat.evaluate.stats import two_level_ci

    same = two_level_ci([[0.5, 0.5, 0.5]] * 10, n_boot=200)
    assert same.low == same.high == same.estimate == 0.5  # no spread anywhere: no width
    rows_differ = two_level_ci([[0.0] * 3, [1.0] * 3] * 5, n_boot=500)
    seeds_differ = two_level_ci([[0.0, 1.0, 0.0]] * 10, n_boot=500)
    assert rows_differ.high - rows_differ.low > 0.2 and seeds_differ.high - seeds_differ.low > 0.2
    assert two_level_ci([[0.2, 0.4]], n_boot=100).n == 1


@pytest.mark.slow
def test_a_study_over_seeds_pools_rows_and_reports_controls(tmp_path):
    import json

    import yaml
    from typer.testing import CliRunner

    from medmat.cli.main import app
    from medmat.study.results import StudyResults

    study = {
        "name": "seeds", "seeds": [0, 1],
        "data": {"synth": {"per_label": 5, "triplets": ["CT/Brain/Lesion Presence", "CT/Breast/Lesion Presence",
                                                          "MRI/Brain/Lesion Presence", "X-ray/Lung/Image Quality Grading",
                                                          "Dermoscopy/Bones/Image Quality Grading"]}},
        "plan": {"targets": ["CT/Brain/Lesion Presence"], "arms": ["zero-shot", "related", "unrelated", "controls"],
                 "directions": ["fixed-task"], "max_per_direction": 1},
        "model": {"backbone": "reference", "options": SMALL},
        "train": {"max_steps": 3, "batch_size": 8},
        "eval": {"scorers": ["option"], "n_boot": 100, "in_distribution": 20},
        "report": {"figures": False},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(study))
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    res = StudyResults.load(tmp_path / "run" / "results.json")
    assert res.seeds == [0, 1] and {row.seed for row in res.rows} == {0, 1}
    for s in (0, 1):  # each seed is a whole run of its own (its own data)
        assert (tmp_path / "run" / f"seed-{s}" / "results.json").is_file() is False
        assert (tmp_path / "run" / f"seed-{s}" / "store" / "items.jsonl").is_file()
    (p,) = [p for p in res.pooled if p.scorer == "option"]
    assert p.seeds == [0, 1] and p.related_shuffled is not None and p.unrelated_vocab is not None
    per_seed = [row.accuracy for row in res.rows if row.arm == "related-fixed-task-1"]
    assert p.related == pytest.approx(sum(per_seed) / 2)
    assert p.gain_ci_low <= p.gain <= p.gain_ci_high
    overall = next(s for s in res.pooled_summaries if s.direction is None)
    assert overall.n_rows == 1 and overall.n_seeds == 2
    md = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "related, answers shuffled" in md and "Med-MAT paper, Table 3" in md and "range over 2 seeds" in md
    again = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "run"), "--json"])
    assert json.loads(again.stdout)["stages_run"] == []
