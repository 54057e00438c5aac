"""Sharded evaluation without launching processes: the split, the merge, failures and resume.

Two ranks are simulated by two threads whose ``gather`` meets at a barrier, so the engine
runs exactly as under a launch; the real 2-process launches are in test_distributed_eval.py.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from helpers.eval import FakeBackbone, make_items
from medmat.evaluate import evaluate, write_results
from medmat.evaluate.shards import Shard, ShardError


@pytest.mark.parametrize("n,batch,world", [(0, 4, 2), (1, 4, 2), (9, 4, 2), (12, 4, 2), (13, 2, 3), (5, 8, 4)])
def test_every_batch_goes_to_exactly_one_rank_unchanged(n, batch, world):
    todo = list(range(n))
    single = Shard().batches(todo, batch)
    assert single == [todo[i:i + batch] for i in range(0, n, batch)]
    per_rank = [Shard(r, world).batches(todo, batch) for r in range(world)]
    # batch i is rank i % world's, whole: no padding, no item twice, none lost
    assert [b for i in range(len(single)) for b in [per_rank[i % world][i // world]]] == single
    assert sum(len(b) for bs in per_rank for b in bs) == n
    assert max(len(bs) for bs in per_rank) - min(len(bs) for bs in per_rank) <= 1


def test_bad_shard_is_refused():
    with pytest.raises(ValueError, match="not one of 2"):
        Shard(2, 2)


@dataclass(frozen=True)
class ThreadShard(Shard):
    """A rank simulated by a thread: ``gather`` is an all-gather through a shared box."""

    box: Any = None

    def gather(self, obj: Any, what: str) -> list[Any]:
        self.box["slots"][self.rank] = obj
        self.box["barrier"].wait(timeout=30)
        out = list(self.box["slots"])
        self.box["barrier"].wait(timeout=30)
        return out


def _run_ranks(world: int, make_backbone, **kw) -> tuple[list[Any], list[FakeBackbone]]:
    box = {"slots": [None] * world, "barrier": threading.Barrier(world)}
    results: list[Any] = [None] * world
    backbones = [make_backbone(r) for r in range(world)]

    def rank(r: int) -> None:
        try:
            results[r] = evaluate(backbones[r], shard=ThreadShard(r, world, box), **kw)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            results[r] = e

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, backbones


@pytest.mark.parametrize("world", [2, 3])
def test_sharded_engine_gives_the_single_process_bytes(tmp_path, world):
    items = make_items(11)  # 2-4 options each, circular: an uneven number of batches
    kw = dict(items=items, store_root=tmp_path, circular=True, batch_size=4, n_boot=100)
    single = evaluate(FakeBackbone("last"), **kw)
    results, backbones = _run_ranks(world, lambda r: FakeBackbone("last"), **kw)
    asked = [sum(n for _, n in b.calls) for b in backbones]
    assert sum(asked) == len(single.predictions)  # every question asked once, on one rank
    assert all(asked)
    a = write_results(single, tmp_path / "single")
    for r, res in enumerate(results):
        assert not isinstance(res, Exception), res
        b = write_results(res, tmp_path / f"rank{r}")
        for f in ("predictions.jsonl", "metrics.json"):
            assert (a / f).read_bytes() == (b / f).read_bytes()


def test_a_failing_shard_fails_every_rank_with_its_message(tmp_path):
    class Broken(FakeBackbone):
        def score_options(self, items, store_root, batch_size=8):
            raise ValueError("out of memory, say")

    results, _ = _run_ranks(2, lambda r: Broken() if r == 1 else FakeBackbone(), items=make_items(9),
                            store_root=tmp_path, batch_size=2, n_boot=50)
    for res in results:
        assert isinstance(res, ShardError)
        assert "failed on 1 of 2 processes: rank 1: ValueError: out of memory, say" in str(res)


def test_a_single_process_still_raises_the_error_itself(tmp_path):
    class Broken(FakeBackbone):
        def score_options(self, items, store_root, batch_size=8):
            raise KeyError("plain")

    with pytest.raises(KeyError, match="plain"):
        evaluate(Broken(), make_items(3), tmp_path, n_boot=50)


def test_resume_reuses_the_partial_rows_of_every_rank(tmp_path):
    """A 2-process evaluation interrupted after each rank saved some rows, resumed by one process."""
    pytest.importorskip("torch")
    from helpers.eval import write_store
    from medmat.evaluate import EvalConfig, evaluate_arm, subset_items
    from medmat.evaluate.arm import partial_path
    from medmat.models.base import ModelConfig

    items = make_items(7)
    store = write_store(tmp_path / "store", items)
    model = ModelConfig(backbone="reference", options={"threads": 1, "image_size": 16, "channels": [8, 16],
                                                       "dim": 16, "n_hash": 64})
    cfg = EvalConfig(scorers=["generate"], batch_size=2, n_boot=50)
    what = subset_items(store, "02")
    full = evaluate_arm(what, model, None, cfg, tmp_path / "full")
    rows = [json.loads(x) for x in (tmp_path / "full" / "predictions.jsonl").read_text().splitlines()]
    out = tmp_path / "resumed"
    identity = {"backbone": "reference", "checkpoint": None, "options": model.options, "scorers": ["generate"],
                "circular": False, "batch_size": 2, "max_new_tokens": 16, "items": sorted(r["item_id"] for r in rows)}
    rows[0]["raw"] = rows[2]["raw"] = "kept from the partial file"
    out.mkdir()
    for rank, mine in ((0, [rows[0]]), (1, [rows[2]])):  # rank r asked batch r first
        partial_path(out, identity, Shard(rank, 2)).write_text("".join(json.dumps(r) + "\n" for r in mine))
    assert len(list(out.glob(".partial-*.rank*.jsonl"))) == 2
    resumed = evaluate_arm(what, model, None, cfg, out)
    assert [p.raw for p in resumed.predictions][:3] == ["kept from the partial file", full.predictions[1].raw,
                                                         "kept from the partial file"]
    assert not list(out.glob(".partial-*"))


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    torch = pytest.importorskip("torch")
    from medmat.runtime import LaunchError, check_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(LaunchError, match="4 processes on a machine with 2 visible GPU"):
        check_devices()  # rank 0 says it too, not only the ranks without a GPU
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    check_devices()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    check_devices()  # CPU processes: no limit


def test_single_process_collectives_are_local():
    from medmat.runtime import LaunchError, agree, all_gather, barrier

    assert all_gather({"a": 1}, "x") == [{"a": 1}]
    barrier("nothing")
    agree(None, "x")
    with pytest.raises(LaunchError, match="x failed: boom"):
        agree("boom", "x")


def test_fsdp_or_deepspeed_that_would_not_happen_is_refused(monkeypatch):
    """On CPU processes accelerate runs an FSDP config as plain DDP; medmat says so instead."""
    pytest.importorskip("accelerate")
    from accelerate.utils import DistributedType

    from medmat.models.hf.training import check_sharding

    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ValueError, match="asks for FSDP, but accelerate runs this process as MULTI_CPU"):
        check_sharding(DistributedType.MULTI_CPU)
    check_sharding(DistributedType.FSDP)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    check_sharding(DistributedType.MULTI_CPU)
    check_sharding(DistributedType.NO)
