"""Synthetic benchmark: determinism, resumability, catalog, design and CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from medmat.io import read_jsonl
from medmat.mat import Triplet
from medmat.synth import SynthConfig, cg_targets, contact_sheet, generate, load_design, render, sample_latents
from medmat.synth.design import Design, check_design, choose_triplets, direction_pairs
from medmat.synth.sheet import sheet_shape

SMALL = dict(per_label=3, test_fraction=0.34,
             triplets=["CT/Brain/Lesion Presence", "Ultrasound/Kidney/Lesion Severity Grading",
                       "Microscopy/Liver/Lesion Laterality", "Endoscopy/Bones/Image Quality Grading",
                       "Fundus Photography/Lung/Lesion Shape Classification"])


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, SynthConfig(seed=3, **SMALL))
    generate(b, SynthConfig(seed=3, **SMALL), workers=2)
    generate(c, SynthConfig(seed=4, **SMALL))
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb
    pngs = lambda h: {v for k, v in h.items() if k.endswith(".png")}
    assert len(pngs(ha)) == 3 * (2 + 3 + 2 + 3 + 3)
    assert not pngs(ha) & pngs(hc)  # another seed: no image is the same


def test_layout_latents_and_resume(tmp_path):
    s = generate(tmp_path, SynthConfig(**SMALL))
    rows = list(read_jsonl(tmp_path / "latents.jsonl"))
    assert s.n_images == len(rows) == s.n_written == 39
    for r in rows:
        parts = Path(r["path"]).parts
        assert parts[0] == "raw" and parts[2] == r["split"] and parts[3] == r["label"]
        data = (tmp_path / r["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"] and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert r["size"] == 64 and "seed" in r and "lesions" in r
    assert s.counts["split"] == {"test": 13, "train": 26}
    meta = json.loads((tmp_path / "synth.json").read_text())
    assert meta["config"]["seed"] == 0 and meta["n_images"] == 39
    # resume: nothing re-rendered; a damaged image is re-rendered to the same bytes
    victim = tmp_path / rows[5]["path"]
    good = victim.read_bytes()
    victim.write_bytes(b"broken")
    s2 = generate(tmp_path, SynthConfig(**SMALL))
    assert (s2.n_written, s2.n_skipped) == (1, 38)
    assert victim.read_bytes() == good
    assert not list(tmp_path.rglob("*.tmp"))
    # a smaller config in the same folder removes the images it no longer makes
    s3 = generate(tmp_path, SynthConfig(**{**SMALL, "per_label": 2, "test_fraction": 0.5}))
    assert s3.n_removed == 13 and len(list((tmp_path / "raw").rglob("*.png"))) == s3.n_images == 26


def test_catalog_file_is_a_valid_user_catalog(tmp_path):
    generate(tmp_path, SynthConfig(**SMALL))
    doc = yaml.safe_load((tmp_path / "catalog.yaml").read_text())
    vocab = load_design().vocab()
    assert {t["name"] for t in doc["vocabulary"]["tasks"]} == {t.name for t in load_design().tasks}
    assert len(doc["subsets"]) == len(doc["datasets"]) == 5
    for sub, ds in zip(doc["subsets"], doc["datasets"]):
        t = Triplet.of(sub["modality"], sub["area"], sub["task"], vocab)
        assert str(t) in SMALL["triplets"]
        assert len(sub["templates"]) >= 6 and len(set(sub["templates"])) == len(sub["templates"])
        assert all("{" not in tpl for tpl in sub["templates"])
        assert ds["subset"] == sub["id"] and ds["layout"]["type"] == "class_folders"
        root = tmp_path / "raw" / ds["layout"]["root"]
        for split, folder in ds["layout"]["split_dirs"].items():
            assert sorted(p.name for p in (root / folder).iterdir()) == sorted(ds["labels"])
    from medmat.catalog import load_catalog

    cat = load_catalog(user_files=[tmp_path / "catalog.yaml"])
    entry = cat.datasets["synth-ct-brain-presence"]
    assert str(entry.triplet) == "CT/Brain/Lesion Presence" and entry.labels == ["abnormal", "normal"]
    assert len(cat.templates("synth-ct-brain-presence")) >= 6


def test_design_is_reproducible_sparse_and_has_cg_targets():
    design = load_design()
    assert len(design.modalities) >= 6 and len(design.areas) >= 6 and len(design.tasks) >= 4
    assert design.triplets == choose_triplets(design, n=len(design.triplets), seed=design.design_seed)
    assert 30 <= len(design.triplets) <= 60
    targets = cg_targets(min_directions=4)
    assert len(targets) >= 10
    pool = design.triplet_objects()
    for c in targets:
        t = Triplet.parse(c.triplet, design.vocab())
        assert c.unrelated > 0 and all(n > 0 for n in c.directions.values())
        for kind, pairs in direction_pairs(t, pool).items():
            for x, y in pairs:  # each pair supplies all three elements, never the target itself
                assert t not in (x, y)
                assert {t.modality, t.area, t.task} <= {x.modality, x.area, x.task, y.modality, y.area, y.task}


def test_design_rejects_shared_label_words():
    d = load_design().model_dump()
    d["tasks"][1]["labels"] = ["round", "spiculated", "normal"]  # 'normal' belongs to presence
    with pytest.raises(ValueError):
        check_design(Design.model_validate(d))


@pytest.mark.parametrize("size", [64, 224])
def test_sizes_render(size):
    lat = sample_latents(SynthConfig(per_label=1, size=size, **{k: v for k, v in SMALL.items() if k == "triplets"}))
    for latent in lat:
        img = render(latent, size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8 and img.std() > 10
    assert np.array_equal(render(lat[0], size), render(lat[0], size))


def test_every_modality_area_pair_renders_distinctly():
    design = load_design()
    lat = sample_latents(SynthConfig(per_label=1, triplets=[f"{m}/{a}/Lesion Presence" for m in design.modalities
                                                            for a in design.areas]))
    imgs = {(l.modality, l.area): render(l, 64) for l in lat if l.label == "normal"}
    assert len(imgs) == len(design.modalities) * len(design.areas)
    digests = {hashlib.sha256(i.tobytes()).hexdigest() for i in imgs.values()}
    assert len(digests) == len(imgs)


def test_contact_sheet_grid(tmp_path):
    from PIL import Image

    path = contact_sheet(tmp_path / "sheet.png", size=64, seed=1)
    design = load_design()
    with Image.open(path) as im:
        assert im.size[::-1] == sheet_shape(len(design.modalities), len(design.areas), 64)
        assert im.mode == "RGB"
    assert contact_sheet(tmp_path / "again.png", size=64, seed=1).read_bytes() == path.read_bytes()


def test_config_errors():
    with pytest.raises(ValueError):
        SynthConfig(size=32)
    with pytest.raises(ValueError, match="did you mean"):
        sample_latents(SynthConfig(triplets=["CT/Brian/Lesion Presence"]))
    with pytest.raises(ValueError, match="renders modalities"):
        sample_latents(SynthConfig(triplets=["OCT/Brain/Lesion Presence"]))
    with pytest.raises(ValueError, match="no triplet left"):
        sample_latents(SynthConfig(modalities=["CT"], areas=["Bones"], tasks=["shape"]))


def test_cli_generate_and_targets(tmp_path):
    from typer.testing import CliRunner

    from medmat.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["synth", str(tmp_path / "out"), "--per-label", "2", "--json", "--modality", "CT",
                              "--task", "presence", "--contact-sheet", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"]["task"] == {"Lesion Presence": 2 * 2 * 2}  # CT/Brain + CT/Breast, 2 labels
    assert Path(doc["catalog"]).is_file() and (tmp_path / "s.png").is_file()
    res = runner.invoke(app, ["synth", "targets", "--json"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)) == len(cg_targets())
    res = runner.invoke(app, ["synth", str(tmp_path / "bad"), "--size", "10"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    res = runner.invoke(app, ["synth", str(tmp_path / "bad"), "--modality", "Ultrasnd"])
    assert res.exit_code == 1 and "did you mean" in res.output


def test_contact_sheet_shows_the_dial(tmp_path):
    """The sheet at dial 1 draws each modality's own look: cells differ from dial 0 in
    findings only, and the cells of two modalities differ more than at 0."""
    from PIL import Image

    def cells(path):
        with Image.open(path) as im:
            a = np.asarray(im.convert("L"), dtype=np.float32)
        h0, w0 = sheet_shape(0, 0, 64)
        return a[h0:, w0:]

    flat = cells(contact_sheet(tmp_path / "d0.png", size=64, seed=1))
    dial = cells(contact_sheet(tmp_path / "d1.png", size=64, seed=1, modality_effect=1, area_effect=1))
    assert flat.shape == dial.shape and np.abs(flat - dial).mean() > 0.5
    again = contact_sheet(tmp_path / "d1b.png", size=64, seed=1, modality_effect=1, area_effect=1)
    assert again.read_bytes() == (tmp_path / "d1.png").read_bytes()
