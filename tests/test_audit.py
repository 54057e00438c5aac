"""`medmat audit`: planted exact and near duplicates are found, distinct images are not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

from medmat.audit import hamming, near_pairs, phash, pixel_hash
from medmat.audit.hashing import load
from medmat.catalog.models import ClassFoldersLayout
from medmat.cli.main import app
from medmat.build import BuildSettings, DatasetJob, build_store
from medmat.vqa import SubsetSpec
from helpers.build import fake_materialize, fake_reader, png

runner = CliRunner()
TPL = [f"T{i}?" for i in range(6)]
SPLITS = {"train": "tr", "test": "te"}


def _planted_store(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    for k, (split, label) in enumerate([(s, lab) for s in ("tr", "te") for lab in ("a", "b")] * 3):
        png(raw / "d1" / split / label / f"x{k}.png", 100 + k)
    for k, (split, label) in enumerate([(s, lab) for s in ("tr", "te") for lab in ("c", "d")] * 3):
        png(raw / "d2" / split / label / f"y{k}.png", 200 + k)
    # exact: a training image of d1 re-encoded (different bytes, same pixels) into d1's test
    src = png(raw / "d1" / "tr" / "a" / "orig.png", 1, size=64)
    Image.open(src).save(raw / "d1" / "te" / "a" / "copy.png", compress_level=0)
    assert (raw / "d1" / "te" / "a" / "copy.png").read_bytes() != src.read_bytes()
    # near: a d1 training image resized and brightened, in d2's test split
    src2 = png(raw / "d1" / "tr" / "b" / "orig2.png", 2, size=64)
    im = ImageEnhance.Brightness(Image.open(src2).resize((80, 80), Image.BICUBIC)).enhance(1.08)
    im.save(raw / "d2" / "te" / "c" / "near.png")
    jobs = [DatasetJob("d1", "s1", ClassFoldersLayout(root="d1", split_dirs=SPLITS)),
            DatasetJob("d2", "s2", ClassFoldersLayout(root="d2", split_dirs=SPLITS))]
    subsets = [SubsetSpec("s1", "CT/Lung/COVID-19 Classification", ["a", "b"], TPL, datasets=["d1"]),
               SubsetSpec("s2", "CT/Brain/Brain Cancer Classification", ["c", "d"], TPL, datasets=["d2"])]
    store = tmp_path / "store"
    build_store(jobs, subsets, raw, store, BuildSettings(), reader=fake_reader, materializer=fake_materialize)
    return store


def test_audit_finds_planted_duplicates(tmp_path):
    store = _planted_store(tmp_path)
    res = runner.invoke(app, ["audit", str(store), "--json", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output  # a report, not a failure
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["summary"]["images"] == 28 and rep["summary"]["unreadable"] == 0
    (exact,) = rep["exact"]
    assert len(exact["images"]) == 2 and exact["leaks"] == ["cross-split:s1"]
    (near,) = rep["near"]
    assert near["distance"] <= 6 and near["leaks"] == ["cross-subset:s2(test)~s1(train)"]
    assert rep["summary"]["leaks"] == {"exact_cross_split": 1, "exact_cross_subset": 0,
                                       "near_cross_split": 0, "near_cross_subset": 1}
    res = runner.invoke(app, ["audit", str(store), "--fail-on-leak"])
    assert res.exit_code == 2 and "exact" in res.output
    # same report twice (deterministic); threshold 0 drops the near pair
    res0 = runner.invoke(app, ["audit", str(store), "--json", "--near-threshold", "0"])
    assert json.loads(res0.stdout)["near"] == [] and json.loads(res0.stdout)["exact"] == rep["exact"]


def test_pixel_hash_ignores_encoding_but_not_content(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "g.bmp")
    other = grey.copy()
    other[0, 0] ^= 1
    Image.fromarray(other).save(tmp_path / "o.png")
    h = {n: pixel_hash(load(tmp_path / n)) for n in ("g.png", "rgb.png", "g.bmp", "o.png")}
    assert h["g.png"] == h["rgb.png"] == h["g.bmp"] != h["o.png"]


def test_phash_separates_distinct_images(tmp_path):
    hashes = [phash(load(png(tmp_path / f"{i}.png", i, size=64))) for i in range(30)]
    dists = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    assert min(dists) > 6 and 20 < float(np.mean(dists)) < 44


def test_near_pairs_matches_brute_force():
    rnd = random.Random(0)
    hashes = [rnd.getrandbits(64) for _ in range(300)]
    for i in range(0, 60, 3):  # plant neighbours at distance 0..8
        h = hashes[i]
        for b in rnd.sample(range(64), i % 9):
            h ^= 1 << b
        hashes.append(h)
    for t in (0, 3, 8):
        brute = sorted((i, j, hamming(a, b)) for i, a in enumerate(hashes) for j, b in enumerate(hashes)
                       if i < j and hamming(a, b) <= t)
        assert near_pairs(hashes, t) == brute and brute


def test_structure_similarity_rejects_same_silhouette_different_texture():
    from medmat.audit.hashing import structure_similarity, thumbnail

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :96]
    shape = (((yy - 40) / 30.0) ** 2 + ((xx - 55) / 38.0) ** 2 < 1) * (1 + xx / 96.0)  # a shaded blob

    def textured() -> Image.Image:
        return Image.fromarray((shape * rng.integers(120, 256, (96, 96)) / 2).clip(0, 255).astype(np.uint8))

    a, b = textured(), textured()
    assert hamming(phash(a), phash(b)) <= 6  # pHash alone calls them near duplicates
    assert structure_similarity(thumbnail(a), thumbnail(b)) < 0.85
    copy = ImageEnhance.Brightness(a.resize((120, 120), Image.BICUBIC)).enhance(1.1)
    assert hamming(phash(a), phash(copy)) <= 6
    assert structure_similarity(thumbnail(a), thumbnail(copy)) > 0.9
