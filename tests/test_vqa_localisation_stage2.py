"""Stage 2 streams: it builds one subset at a time from the records stage 1 wrote, so a
build's memory does not grow with the store, and the files are the same bytes."""

from __future__ import annotations

import shutil
from dataclasses import replace

from helpers.export_store import two_subset_store

import medmat.build.stage2 as stage2
from medmat.build import BuildSettings
from medmat.build.stage1 import load_stage1
from medmat.store import VQAStore

FILES = ("items.jsonl", "skips.jsonl", "summary.json", "store.json")


def test_stage2_reads_records_from_disk_one_subset_at_a_time(tmp_path, monkeypatch):
    store = two_subset_store(tmp_path)
    before = {n: (store / n).read_bytes() for n in FILES}
    meta = VQAStore(store).meta
    specs = [stage2.SubsetSpec(s["id"], s["triplet"], s["labels"], s["templates"], s["multi_label"], s["datasets"],
                               s["data_no"]) for s in meta["subsets"]]
    # stage 2 takes the records from records/<ds>.jsonl, not from what stage 1 hands over
    # (here: records with a label no subset knows, which would give unknown-label skips)
    results = {}
    for d in meta["datasets"]:
        res = load_stage1(store, d["id"])
        results[d["id"]] = replace(res, records=[replace(r, labels=("bogus",)) for r in res.records])
    calls = []
    real = stage2.default_builder

    def spy(records, subsets, settings):
        calls.append(([s.id for s in subsets], sorted(records)))
        return real(records, subsets, settings)

    monkeypatch.setattr(stage2, "default_builder", spy)
    again = tmp_path / "again"
    shutil.copytree(store / "records", again / "records")
    stage2.write_stage2(again, specs, results, BuildSettings(seed=0))
    assert {n: (again / n).read_bytes() for n in FILES} == before
    assert calls == [(["03"], ["ct-kidney-dataset"]), (["s-2"], ["my-own"])]  # one subset per call, in id order
