"""The invariants every manifest must satisfy, checked against the store it names.

The planner checks its own output with these (a bug there must not reach a training run)
and ``medmat plan check`` checks a manifest someone edited by hand or carried to another
machine. A CG result is only meaningful if the target never leaked into training.
"""

from __future__ import annotations

import os

from medmat.plan.elements import FULL, to_triplet
from medmat.plan.manifest import Manifest, ManifestError, load_manifest
from medmat.plan.sampling import IdSets, StoreIndex
from medmat.records import VQAItem
from medmat.store import StoreError, VQAStore

# Arm kinds that may train on the target itself (on purpose): low-data measures k target
# items; single-task and multi-task (plan/multitask.py) ARE training on the tested subset,
# the paper's in-distribution comparison (an out-of-distribution target is never a source).
TARGET_ALLOWED = frozenset({"low-data", "single-task", "multi-task"})


def check_manifest(manifest: Manifest, store: VQAStore, index: StoreIndex | None = None,
                   limit: int = 5) -> list[str]:
    """Every broken invariant, as one message each (empty list: the manifest is sound).

    ``index`` (the planner's view of the same store) saves re-reading it.
    """
    problems: list[str] = []
    fingerprint = index.fingerprint if index is not None else store.fingerprint()
    if manifest.store_fingerprint != fingerprint:
        problems.append(f"store fingerprint {manifest.store_fingerprint[:12]}... does not match "
                        f"{store.root} ({fingerprint[:12]}...): the store changed since planning")
    by_id: dict[str, VQAItem] = index.by_id if index is not None else store.by_id()
    infos = index.infos if index is not None else store.subsets()
    target = to_triplet(manifest.target)
    full: dict[str, bool] = {}

    def is_target(triplet: str) -> bool:  # one vocabulary lookup per distinct triplet
        if triplet not in full:
            full[triplet] = to_triplet(triplet).shared(target) == FULL
        return full[triplet]

    if manifest.target_subset not in infos:
        problems.append(f"target_subset {manifest.target_subset!r} is not a subset of the store")
    elif to_triplet(infos[manifest.target_subset].triplet) != target:
        problems.append(f"target_subset {manifest.target_subset!r} is "
                        f"{infos[manifest.target_subset].triplet}, not the target {manifest.target}")
    # Each check is a set operation on an arm's ids; the messages (ids in the arm's order) are
    # only assembled for an arm that fails one.
    ids = index.id_sets if index is not None else IdSets.of(by_id.values())
    test_hashes: set[str] = set()
    bad_test_ids: set[str] = set()
    shared_ids: set[str] = set()  # items showing an image of a test item (the test items included)
    for iid in set().union(*(arm.test for arm in manifest.arms)):
        it = by_id.get(iid)
        if it is not None and it.image_hash:
            test_hashes.add(it.image_hash)
            shared_ids.add(iid)
        if it is not None and (it.subset != manifest.target_subset or it.split != "test"):
            bad_test_ids.add(iid)
    not_train_ids = set().union(*(v for k, v in ids.by_split.items() if k != "train"))
    trained = set().union(*(arm.train for arm in manifest.arms if arm.kind not in TARGET_ALLOWED))
    # (is_target only for the triplets something trains on: a triplet outside the vocabulary is slow to compare)
    target_ids = set().union(*(v for k, v in ids.by_triplet.items() if not v.isdisjoint(trained) and is_target(k)))
    shared_ids |= set().union(*(ids.shared_hash.get(h, ()) for h in test_hashes))
    for arm in manifest.arms:
        train_set, test_set = set(arm.train), set(arm.test)
        if not (train_set <= by_id.keys() and test_set <= by_id.keys()):
            missing = [i for i in arm.train + arm.test if i not in by_id]
            problems.append(f"arm {arm.name}: {len(missing)} item ids are not in the store, e.g. {missing[:limit]}")
        if not test_set.isdisjoint(bad_test_ids):
            bad_test = [i for i in arm.test if i in bad_test_ids]
            problems.append(f"arm {arm.name}: {len(bad_test)} test items are not test items of the target "
                            f"subset {manifest.target_subset}, e.g. {bad_test[:limit]}")
        if not train_set.isdisjoint(not_train_ids):
            not_train = [i for i in arm.train if i in not_train_ids]
            problems.append(f"arm {arm.name}: {len(not_train)} training items are not from a train split, "
                            f"e.g. {not_train[:limit]}")
        if arm.kind not in TARGET_ALLOWED and not train_set.isdisjoint(target_ids):
            leaked = [i for i in arm.train if i in target_ids]
            problems.append(f"arm {arm.name}: trains on {len(leaked)} items of the target triplet "
                            f"{manifest.target} (task compared by family), e.g. {leaked[:limit]}")
        if not train_set.isdisjoint(shared_ids):
            shared_img = [i for i in arm.train if i in shared_ids]
            problems.append(f"arm {arm.name}: {len(shared_img)} training items show a test image "
                            f"(same image_hash), e.g. {shared_img[:limit]}")
        if arm.kind == "single-task" and arm.train_subsets != [manifest.target_subset]:
            problems.append(f"arm {arm.name}: a single-task arm trains on its target subset "
                            f"{manifest.target_subset} alone, not on {arm.train_subsets}")
        if arm.kind == "multi-task" and manifest.settings.get("role") == "out-of-distribution" \
                and manifest.target_subset in arm.train_subsets:
            problems.append(f"arm {arm.name}: trains on the out-of-distribution target {manifest.target_subset}")
        if arm.matched_with is not None:
            other = manifest.arm(arm.matched_with)
            if other.n_train != arm.n_train:
                problems.append(f"arms {arm.name} and {other.name} are compared but train on "
                                f"{arm.n_train} and {other.n_train} items")
    return problems


def validate_manifest(manifest: Manifest, store: VQAStore) -> None:
    """Raise :class:`ManifestError` listing every broken invariant."""
    problems = check_manifest(manifest, store)
    if problems:
        where = manifest.path or "manifest"
        raise ManifestError(f"{where}: {len(problems)} invariant(s) broken:\n  - " + "\n  - ".join(problems))


def load_checked(path: str | os.PathLike, store: VQAStore | None = None) -> Manifest:
    """Load a manifest and check it against ``store`` (default: the store it names)."""
    manifest = load_manifest(path)
    try:
        vqa = store if store is not None else VQAStore(manifest.store_path())
    except StoreError as e:
        raise ManifestError(f"{path}: field store: {e}") from None
    validate_manifest(manifest, vqa)
    return manifest
