"""Stage 1 with localisation records: boxes and masks reach the store, survive a resumed build
(stage-1 reuse and the materialiser's cache), and a lost mask file means a rebuild."""

from __future__ import annotations

import json

from helpers.fuzz_localisation import mask_pairs, siim_rle
from medmat.build.config import BuildSettings, DatasetJob
from medmat.build.stage1 import paths_for, run_stage1
from medmat.imaging import materialize
from medmat.sources import read_dataset


def _stage1(c, raw, store, settings):
    job = DatasetJob("ds", "s", c.layout, labels=c.labels)
    return run_stage1(job, raw, store, settings, read_dataset, materialize)


def test_boxes_and_masks_survive_resume(tmp_path):
    raw, store = tmp_path / "raw", tmp_path / "store"
    c = mask_pairs(raw, broken=True)
    settings = BuildSettings(max_side=24)
    first = _stage1(c, raw, store, settings)
    assert first.read == len(first.records) + len(first.skips) and not first.reused
    assert all(r.mask and (store / r.mask).is_file() for r in first.records)
    assert all(r.boxes for r in first.records) and "mask_spec" not in first.records[0].meta
    again = _stage1(c, raw, store, settings)
    assert again.reused and [r.to_dict() for r in again.records] == [r.to_dict() for r in first.records]

    # a mask lost from the store: stage 1 is redone, the image cache is used, the mask comes back the same
    lost = first.records[0].mask
    (store / lost).unlink()
    stats: dict[str, int] = {}

    def counting(*args, **kwargs):
        return materialize(*args, stats=stats, **kwargs)

    job = DatasetJob("ds", "s", c.layout, labels=c.labels)
    third = run_stage1(job, raw, store, settings, read_dataset, counting)
    assert not third.reused and (store / lost).is_file()
    assert [r.to_dict() for r in third.records] == [r.to_dict() for r in first.records]
    assert stats["cached"] == len(first.records) - 1 and stats["encoded"] + stats["copied"] == 1
    assert sorted(s.reason for s in third.skips) == sorted(s.reason for s in first.skips)


def test_records_file_carries_boxes_and_mask(tmp_path):
    raw, store = tmp_path / "raw", tmp_path / "store"
    c = siim_rle(raw)
    res = _stage1(c, raw, store, BuildSettings())
    rows = [json.loads(line) for line in paths_for(store, "ds")[0].read_text().splitlines()]
    by_image = {r["meta"]["source_image"]: r for r in rows}
    with_box = by_image["dicom-images-train/s0/r0/1.2.3.1.dcm"]
    assert with_box["boxes"] == [["Pneumothorax", 1.0, 1.0, 6.0, 5.0], ["Pneumothorax", 10.0, 4.0, 19.0, 11.0]]
    assert with_box["mask"].startswith("masks/") and with_box["labels"] == ["Pneumothorax"]
    empty = by_image["dicom-images-train/s1/r1/1.2.3.2.dcm"]
    assert "boxes" not in empty and empty["labels"] == ["No Pneumothorax"] and empty["mask"].startswith("masks/")
    assert res.summary()["skipped"] == 0
