"""`medmat advise`: ranking by shared elements, and minimal covers checked by brute force."""

import json
import random
import sys
import types
from itertools import combinations

import pytest
from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.mat import Triplet
from medmat.plan import AdviceError, advise, minimal_covers
from helpers.plan_store import DEMO_TARGET, write_demo_store
from medmat.plan.advice import SubsetAdvice
from medmat.store import VQAStore

ELEMENTS = ("modality", "area", "task")
FULL = set(ELEMENTS)


def brute_force_min_covers(cands):
    """Every minimal-cardinality cover, by trying all subsets of candidates."""
    usable = [c for c in cands if c.shares and set(c.shares) != FULL and c.n_train != 0]
    for size in range(1, len(usable) + 1):
        found = [tuple(sorted(c.id for c in combo)) for combo in combinations(usable, size)
                 if set().union(*(set(c.shares) for c in combo)) == FULL]
        if found:
            return set(found)
    return set()


@pytest.fixture
def store(tmp_path):
    return VQAStore(write_demo_store(tmp_path / "store", sizes={"x1": (12, 8), "04": (50, 8)}))


def test_ranking_by_shared_elements_then_items(store):
    adv = advise(DEMO_TARGET, store)
    assert adv.target_subsets == ["03", "t2"] and adv.target_n_train == 30
    assert [r.id for r in adv.ranked] == ["04", "k1", "x1", "b1", "m1", "x2"]
    assert [len(r.shares) for r in adv.ranked] == [2, 2, 2, 1, 1, 1]
    assert {r.id: r.n_train for r in adv.ranked}["04"] == 50
    assert adv.missing == []
    assert not {"d1", "f1", "o1"} & {r.id for r in adv.ranked}  # unrelated subsets do not help


def test_demo_covers_are_minimal_and_cheapest_first(store):
    adv = advise(DEMO_TARGET, store, max_covers=None)
    got = {tuple(c.subsets) for c in adv.covers}
    assert got == brute_force_min_covers(adv.ranked)
    totals = [c.n_train for c in adv.covers]
    assert totals == sorted(totals) and totals[0] == 12 + 30  # x1 (12 items) with k1 or b1
    assert {c.direction for c in adv.covers} == {"fixed-modality", "fixed-area", "fixed-task", "modality-area",
                                                 "area-task", "modality-task"}
    assert all(sum(c.contributions.values()) == c.n_train for c in adv.covers)
    assert len(advise(DEMO_TARGET, store, max_covers=2).covers) == 2
    capped = advise(DEMO_TARGET, store, cap=20)
    assert {r.id: r.n_train for r in capped.ranked}["04"] == 20


@pytest.mark.parametrize("seed", range(25))
def test_minimal_covers_match_brute_force_on_random_candidates(seed):
    rng = random.Random(seed)
    cands = []
    for i in range(rng.randint(0, 9)):
        shares = [e for e in ELEMENTS if rng.random() < 0.35]
        cands.append(SubsetAdvice(f"s{i}", "", shares, rng.choice([None, 0, 5, 50, 500]), True))
    covers = minimal_covers(cands, limit=None)
    assert {tuple(c.subsets) for c in covers} == brute_force_min_covers(cands)
    known = [c.n_train for c in covers if c.n_train is not None]
    assert known == sorted(known)


def test_only_three_sources_when_no_pair_covers(tmp_path):
    gone = {s: (0, 8) for s in ("04", "k1", "x1")}
    store = VQAStore(write_demo_store(tmp_path / "store", sizes=gone))
    adv = advise(DEMO_TARGET, store)
    assert [(c.subsets, c.direction) for c in adv.covers] == [(["b1", "m1", "x2"], "three-sources")]


def test_missing_elements_are_named(tmp_path):
    store = VQAStore(write_demo_store(tmp_path / "store"))
    adv = advise("OCT/Retina/Retina Diseases Classification", store)
    assert adv.missing == ["modality", "area"] and adv.covers == []


def test_catalog_alone_works_from_triplets(monkeypatch):
    fake = types.ModuleType("medmat.catalog")
    cat = types.SimpleNamespace(
        subsets={
            "a": types.SimpleNamespace(triplet=Triplet.parse("CT/Brain/Brain Cancer Classification"),
                                       datasets=["d-a"], status="released"),
            "b": types.SimpleNamespace(triplet=Triplet.parse("X-ray/Lung/COVID-19 Classification"),
                                       datasets=["d-b", "d-c"], status="released"),
        },
        datasets={"d-a": types.SimpleNamespace(name="Brain CT set"), "d-b": types.SimpleNamespace(name="CXR one"),
                  "d-c": types.SimpleNamespace(name="CXR two")},
    )
    fake.load_catalog = lambda user_files=(): cat
    monkeypatch.setitem(sys.modules, "medmat.catalog", fake)
    adv = advise("CT/Lung/COVID-19 Classification")
    assert [r.id for r in adv.ranked] == ["b", "a"]
    assert adv.ranked[0].datasets == ["CXR one", "CXR two"] and adv.ranked[0].n_train is None
    assert [(c.subsets, c.n_train) for c in adv.covers] == [(["a", "b"], None)]
    assert adv.covers[0].direction == "area-task"


def test_cli_advise_json(store, tmp_path):
    r = CliRunner().invoke(app, ["advise", "--target", DEMO_TARGET, "--store", str(tmp_path / "store"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["target"] == DEMO_TARGET and data["ranked"][0]["id"] == "04"
    assert data["covers"][0]["n_train"] == 42
    r = CliRunner().invoke(app, ["advise", "--target", "CT/Lung", "--store", str(tmp_path / "store")])
    assert r.exit_code == 1 and "Modality/Area/Task" in r.output
