"""Sharded evaluation under a real launch: `accelerate launch` with 2 CPU processes (gloo).

`medmat eval` under the launch splits the batches over the ranks (each rank scores its
share with the option scorer and the generation scorer), gathers the rows and writes, on
rank 0 only, the bytes one process writes. The shares are uneven on purpose (an odd
number of batches). A shard that fails or a rank that dies is reported with the rank and
leaves no results behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.distributed import launch, marked, written
from helpers.eval import make_items, write_store

pytest.importorskip("accelerate")
pytestmark = pytest.mark.slow

REF = ["--backbone", "reference", "--option", "threads=1", "--option", "image_size=16", "--option",
       "channels=[8, 16]", "--option", "dim=16", "--option", "n_hash=64"]


def _stores(tmp_path: Path) -> tuple[Path, Path, Path]:
    from medmat.models.tiny import build_tiny, write_tiny_store

    items = make_items(9, subset="02")  # circular: 27 questions per scorer, 7 batches of 4
    ref_store = write_store(tmp_path / "store", items)
    write_tiny_store(tmp_path / "tiny-store", n_items=5, seed=0, splits=("test",))  # 3 batches of 2
    return ref_store, tmp_path / "tiny-store", build_tiny("qwen2-vl", tmp_path / "tiny", seed=0)


def _commands(tmp_path: Path, tag: str) -> list[list[str]]:
    return [
        ["eval", "--store", "store", "--subset", "02", *REF, "--circular", "--batch-size", "4",
         "--n-boot", "50", "--out", f"ref-{tag}", "--json"],
        ["eval", "--store", "tiny-store", "--subset", "t1", "--backbone", "qwen2-vl", "--checkpoint", "tiny",
         "--option", "max_pixels=3136", "--batch-size", "2", "--max-new-tokens", "4", "--n-boot", "50",
         "--out", f"hf-{tag}", "--json"],
    ]


def test_two_processes_write_the_bytes_of_one(tmp_path, monkeypatch):
    _stores(tmp_path)
    r = launch(_commands(tmp_path, "2"), cwd=tmp_path, log_dir=tmp_path / "writes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    from medmat.cli.main import app

    monkeypatch.chdir(tmp_path)
    for cmd in _commands(tmp_path, "1"):
        one = CliRunner().invoke(app, cmd)
        assert one.exit_code == 0, one.output
    for name in ("ref", "hf"):
        for f in ("predictions.jsonl", "metrics.json"):
            assert (tmp_path / f"{name}-2" / f).read_bytes() == (tmp_path / f"{name}-1" / f).read_bytes(), (name, f)
        assert sorted(p.name for p in (tmp_path / f"{name}-2").iterdir()) == ["metrics.json", "predictions.jsonl"]
    # rank 1 scored its shard but wrote nothing in the work folder
    others = written(tmp_path / "writes")
    assert list(others) == [1]
    inside = [p for p in others[1] if Path(p).is_relative_to(tmp_path) and not Path(p).is_relative_to(tmp_path / "writes")]
    assert inside == []
    assert [p for p in marked(tmp_path) if not p.startswith("writes")] == []


@pytest.mark.parametrize("fault,says", [
    ("score-error:1", "evaluation failed on 1 of 2 processes: rank 1: ValueError: injected failure while scoring"),
    ("score-exit:1", "exitcode  : 3"),
])
def test_a_failing_or_dying_rank_is_reported_and_nothing_is_written(tmp_path, fault, says):
    write_store(tmp_path / "store", make_items(9, subset="02"))
    cmd = ["eval", "--store", "store", "--subset", "02", *REF, "--scorers", "option", "--batch-size", "2",
           "--n-boot", "50", "--out", "out", "--json"]
    r = launch([cmd], cwd=tmp_path, fault=fault)
    text = r.stdout + r.stderr
    assert r.returncode != 0
    assert " ".join(says.split()) in " ".join(text.split()), text[-4000:]
    if fault == "score-exit:1":  # torchrun names the rank that died as the root cause
        cause = " ".join(text.split("Root Cause", 1)[1].split())
        assert "rank : 1" in cause
    assert not (tmp_path / "out" / "predictions.jsonl").exists()
    assert not (tmp_path / "out" / "metrics.json").exists()
