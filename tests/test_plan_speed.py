"""The planner made fast (issue 12) plans exactly what it planned before, and its fast
manifest text is exactly PyYAML's and json's.

``GOLDEN`` holds, per manifest, a digest of what the planner chose (arms, their items and
sources, skipped arms; not ``settings``, which records every planner option and grows with
new ones) for the Med-MAT-shaped store of ``helpers/medmat_store.py`` at a small size,
computed with the planner as it was before (commit e90adfc) by ``plan_digests`` below.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
import yaml

from helpers.medmat_store import write_medmat_store

ARM_FIELDS = ("name", "kind", "direction", "train_subsets", "sources", "train", "test", "n_train", "matched_with",
              "k", "seed", "dropped_leaks", "downsized_from", "note")
CONFIGS = {
    "all-kinds": {"all_targets": True, "arms": ["zero-shot", "related", "unrelated", "leave-out", "low-data"],
                  "cap": 40, "low_data_k": [0, 5, 20], "max_per_direction": 2},
    "budget": {"all_targets": True, "train_size": 70, "max_per_direction": 0},
}


def plan_digests(store_dir: Path, out_dir: Path) -> dict[str, str]:
    """Plan every target of the store with each of ``CONFIGS``; a digest of each manifest's choices."""
    from medmat.plan import PlanConfig, plan_targets
    from medmat.store import VQAStore

    out = {}
    for name, config in CONFIGS.items():
        plan_targets(VQAStore(store_dir), PlanConfig(**config), out_dir / name, fmt="json")
        out.update(_digests(out_dir / name, name))
    return out


def _digests(out_dir: Path, name: str) -> dict[str, str]:
    out = {}
    for p in sorted(out_dir.glob("*.json")):
        data = json.loads(p.read_text())
        if p.name == "study.json":
            chosen = {"targets": data["targets"], "skipped": data["skipped"]}
        else:
            chosen = {"target": data["target"], "target_subset": data["target_subset"], "cap": data["cap"],
                      "arms": [{k: a.get(k) for k in ARM_FIELDS} for a in data["arms"]], "skipped": data["skipped"]}
        out[f"{name}/{p.name}"] = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]
    return out


GOLDEN = {
    "all-kinds/03-ct-lung-covid-19-classification.json": "2638ebf9fd45ba4f",
    "all-kinds/04-ct-lung-lung-cancer-classification.json": "a95840ce218d6b55",
    "all-kinds/06-ct-brain-brain-cancer-classification.json": "561497a1dc30babf",
    "all-kinds/07-dermoscopy-skin-melanoma-type-classification.json": "f0fc6e112c19b76e",
    "all-kinds/08-dermoscopy-skin-skin-diseases-classification.json": "f6b7efec97373335",
    "all-kinds/09-digital-photography-mouth-teeth-condition-classification.json": "a7524980d69f4778",
    "all-kinds/10-digital-photography-mouth-oral-cancer-classification.json": "f100ad4cebe32035",
    "all-kinds/11-endoscopy-intestine-intestine-cleanliness-level.json": "fea4bf716736fc7d",
    "all-kinds/13-endoscopy-intestine-intestine-diseases-classification.json": "f848282cd2abe000",
    "all-kinds/14-fundus-photography-fundus-eye-diseases-classification.json": "6a77b79b2be01961",
    "all-kinds/15-fundus-photography-fundus-multiple-labels-eye-diseases-classification.json": "7d350c848fcb47c4",
    "all-kinds/16-fundus-photography-fundus-blindness-level.json": "03f566501e56da18",
    "all-kinds/17-fundus-photography-fundus-retinal-images-quality-evaluation.json": "fb155c74241cf289",
    "all-kinds/19-microscopy-cell-prostate-cancer-degree-classification.json": "17b7733236f1c9e1",
    "all-kinds/21-microscopy-cell-cancer-classification.json": "705ac2fe1a509dba",
    "all-kinds/25-x-ray-bones-degree-classification-of-knee.json": "2631d8b8ec57958f",
    "all-kinds/27-x-ray-bones-vertebrae-diseases-classification.json": "c99a1d8a82870e15",
    "all-kinds/28-x-ray-lung-covid-19-and-pneumonia-classification.json": "926b6fecfa20fd2e",
    "all-kinds/29-x-ray-breast-breast-diseases-classification.json": "9d6a4bb9943e03ba",
    "all-kinds/32-x-ray-brain-tumor-classification.json": "e39dbe76a1654334",
    "all-kinds/33-microscopy-cell-multi-labels-diseases.json": "d9b0f58240e98299",
    "all-kinds/34-fundus-photography-fundus-level-identification.json": "25b08569b261ea28",
    "all-kinds/35-x-ray-bones-level-identification.json": "cfa854c103115fc0",
    "all-kinds/36-x-ray-bones-spinal-lesion-classification.json": "8147ef001e04018d",
    "all-kinds/37-x-ray-breast-multi-labels-diseases.json": "d395917d952e4ca6",
    "all-kinds/study.json": "7d2c0cedb96ead09",
    "budget/03-ct-lung-covid-19-classification.json": "1027e7fb2b8a8adc",
    "budget/04-ct-lung-lung-cancer-classification.json": "707f9e40cb08bb89",
    "budget/06-ct-brain-brain-cancer-classification.json": "2c491cc3fc3c5906",
    "budget/07-dermoscopy-skin-melanoma-type-classification.json": "98710f99881a89c1",
    "budget/08-dermoscopy-skin-skin-diseases-classification.json": "de940b754ab86321",
    "budget/09-digital-photography-mouth-teeth-condition-classification.json": "e53c767bc7f37bc6",
    "budget/10-digital-photography-mouth-oral-cancer-classification.json": "2f1a697e12e57070",
    "budget/11-endoscopy-intestine-intestine-cleanliness-level.json": "763b41cfe7a4e1c4",
    "budget/13-endoscopy-intestine-intestine-diseases-classification.json": "734e1878f28e81c1",
    "budget/14-fundus-photography-fundus-eye-diseases-classification.json": "4b53501d517884d8",
    "budget/15-fundus-photography-fundus-multiple-labels-eye-diseases-classification.json": "fda094841b22d1fa",
    "budget/16-fundus-photography-fundus-blindness-level.json": "96c1b1395f01791a",
    "budget/17-fundus-photography-fundus-retinal-images-quality-evaluation.json": "0f3ee5f8c0a65444",
    "budget/19-microscopy-cell-prostate-cancer-degree-classification.json": "582aacdd490905f2",
    "budget/21-microscopy-cell-cancer-classification.json": "a975cc915499e91c",
    "budget/25-x-ray-bones-degree-classification-of-knee.json": "2cb44211ca19c86a",
    "budget/27-x-ray-bones-vertebrae-diseases-classification.json": "0ce78e4c3a45ab7a",
    "budget/28-x-ray-lung-covid-19-and-pneumonia-classification.json": "141fbf5f943c8dac",
    "budget/29-x-ray-breast-breast-diseases-classification.json": "40cefeaf8ec57d91",
    "budget/32-x-ray-brain-tumor-classification.json": "f263d1c4436c86a4",
    "budget/33-microscopy-cell-multi-labels-diseases.json": "4ee07b8e7338aec7",
    "budget/34-fundus-photography-fundus-level-identification.json": "d1752a375e2205c5",
    "budget/35-x-ray-bones-level-identification.json": "eef10fe01831dd24",
    "budget/36-x-ray-bones-spinal-lesion-classification.json": "3a6cbf5e61c1a08d",
    "budget/37-x-ray-breast-multi-labels-diseases.json": "ccfee175f8d5be8e",
    "budget/study.json": "3b91bc1a53bd92f8",
}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("medmat-sized")
    store = write_medmat_store(root / "store", n_train=60, n_test=12)
    return store, root / "plans", plan_digests(store, root / "plans")


def test_plans_are_those_of_the_planner_before(planned):
    _, _, digests = planned
    assert digests == GOLDEN


def test_manifest_text_is_pyyaml_and_json_byte_for_byte(planned):
    from medmat.plan.manifest import _YAML_OPTIONS, _json_dump, _yaml_dump, _yaml_load

    _, plans, _ = planned
    for p in sorted(plans.glob("*/*.json"))[:8]:
        data = json.loads(p.read_text())
        text = yaml.dump(data, **_YAML_OPTIONS)
        assert _yaml_dump(data) == text
        assert _yaml_load(text) == data
        assert _json_dump(data) == json.dumps(data, indent=2, ensure_ascii=False) + "\n" == p.read_text()


ODD = ["0", "12", "0012", "1_000", "0b101", "0b1a", "0x1f", "0o17", "1e3", "1.5", ".5", "-1", "+1", "yes", "no",
       "No", "on", "off", "y", "n", "true", "False", "null", "Null", "~", "", " ", "a b", "a: b", "a #b", "#a",
       "-a", "- a", "?a", ":a", "a:", "'q'", '"d"', "it's", "é", "日本", "tab\there", "line\nbreak", "x" * 120,
       "word " * 30, "2024-01-02", "1:20", "<<", "=", "!tag", "&a", "*a", "%x", "@x", "`x", "|x", ">x", "[x]",
       "{x}", "a,b", "fooled", "offer", "nothing", "yes_", "N0", "_1", "f", "t1234", "ya", "abc-def", "a.b"]


def _random_ids(rng: random.Random, n: int) -> list[str]:
    alphabet = "0123456789abcdef" * 3 + "xbo_ABFNOTYfnoty.-"
    return [rng.choice(ODD) if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(4))
def test_fast_text_equals_pyyaml_and_json_for_odd_values(seed):
    """Lists of awkward strings: quoted, folded, unicode, numbers in disguise, empty."""
    from medmat.plan.manifest import _YAML_OPTIONS, _json_dump, _yaml_dump, _yaml_load

    rng = random.Random(seed)
    data = {"version": 1, "target": "A/B/C", "note": rng.choice(ODD),
            "settings": {"arms": ["zero-shot", "related"], "low_data_k": [0, 5], "flag": True, "none": None},
            "arms": [{"name": f"arm-{i}", "train": _random_ids(rng, rng.randint(0, 60)), "test": ["x1", "y" + str(i)],
                      "sources": [{"subset": "08", "supplies": ["modality"], "n": 3}], "mixed": [1, "a", None]}
                     for i in range(4)],
            "odd": list(ODD), "nested": [["a", "b"], ["0"]]}
    text = yaml.dump(data, **_YAML_OPTIONS)
    assert _yaml_dump(data) == text
    assert _yaml_load(text) == yaml.safe_load(text) == data
    assert _json_dump(data) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_id_pattern_only_takes_what_pyyaml_writes_plain():
    """``_ID`` (ids written without asking PyYAML) against PyYAML's own resolvers and emitter."""
    import re

    from medmat.plan.manifest import _ID, _ODD, _ODD_CHARS, _YAML_OPTIONS, _plain

    rng = random.Random(0)
    candidates = set(ODD) | set(_random_ids(rng, 3000)) | {"0b" + "".join(rng.choice("01_") for _ in range(5))
                                                             for _ in range(50)}
    taken = 0
    for s in sorted(candidates):
        if re.fullmatch(_ID, s):
            taken += 1
            assert _plain(s), s
            assert yaml.dump([s], **_YAML_OPTIONS) == f"- {s}\n", s
            assert yaml.safe_load(f"- {s}\n") == [s], s
        else:
            assert _ODD.fullmatch(s) or _ODD_CHARS.fullmatch(s) or "\n" in s, s  # every other id: one by one
    assert taken > 1000


def test_hand_edited_yaml_is_read_by_pyyaml():
    """Comments, flow lists, anchors and a block text that looks like a list: read as PyYAML reads them."""
    from medmat.plan.manifest import _yaml_load

    text = ("# edited by hand\nversion: 1\narms:\n- name: a  # first\n  train: [b1, c2]\n  test:\n  - d4\n  - e5\n"
            "  note: |\n    test:\n    - f6\n    - a7\n- &x\n  name: b\n  test:\n  - d4\n- *x\n")
    assert _yaml_load(text) == yaml.safe_load(text)


def test_invariant_messages_name_each_broken_rule(planned, tmp_path):
    """The set-based checks still report each problem with the arm's own ids, in its order."""
    from medmat.plan import check_manifest, load_manifest
    from medmat.store import VQAStore

    store_dir, plans, _ = planned
    path = next(p for p in sorted((plans / "all-kinds").glob("*.json")) if p.name != "study.json")
    manifest = load_manifest(path)
    store = VQAStore(store_dir)
    assert check_manifest(manifest, store) == []
    by_id = store.by_id()
    arm = next(a for a in manifest.arms if a.kind == "related")
    target_item = next(it for it in by_id.values() if it.subset == manifest.target_subset and it.split == "train")
    test_item = next(it for it in by_id.values() if it.split == "test" and it.subset != manifest.target_subset)
    twin = next(it for it in by_id.values() if it.split == "train" and it.subset != manifest.target_subset
                and it.item_id not in arm.train)
    test_of_target = by_id[arm.test[0]]
    twin.image_hash = test_of_target.image_hash  # the store now shows a test image in training
    train = sorted(arm.train + [target_item.item_id, test_item.item_id, twin.item_id, "zz-missing"])
    broken = arm.model_copy(update={"train": train, "n_train": len(train), "test": sorted(arm.test + [test_item.item_id])})
    manifest.arms[manifest.arms.index(arm)] = broken
    problems = [p for p in check_manifest(manifest, store) if p.startswith((f"arm {arm.name}:", f"arms {arm.name} "))]
    assert problems == [
        f"arm {arm.name}: 1 item ids are not in the store, e.g. ['zz-missing']",
        f"arm {arm.name}: 1 test items are not test items of the target subset {manifest.target_subset}, "
        f"e.g. {[test_item.item_id]}",
        f"arm {arm.name}: 1 training items are not from a train split, e.g. {[test_item.item_id]}",
        f"arm {arm.name}: trains on 1 items of the target triplet {manifest.target} (task compared by family), "
        f"e.g. {[target_item.item_id]}",
        f"arm {arm.name}: 2 training items show a test image (same image_hash), "
        f"e.g. {[i for i in train if i in (twin.item_id, test_item.item_id)]}",
        f"arms {arm.name} and {arm.matched_with} are compared but train on {len(train)} and {arm.n_train} items",
    ]
