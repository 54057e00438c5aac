"""The entanglement dial (synth/dial.py): off by default and byte-identical there, findings stay
visible and placeable at every setting, and at modality_effect 1 what a classifier learns on one
modality stops transferring to others."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medmat.io import read_jsonl
from medmat.synth import SynthConfig, generate, load_design, render, sample_latents
from medmat.synth.dial import AREA_LOOKS, MIN_STRENGTH, MODALITY_LOOKS, blend, draw_dressed, look_strength
from medmat.synth.findings import draw_lesion
from medmat.synth.grids import grid
from medmat.synth.latent import Lesion
from medmat.synth.sample import Job, sample_one

TRIPLETS = ["CT/Brain/Lesion Presence", "Ultrasound/Kidney/Lesion Severity Grading",
            "Fundus Photography/Lung/Lesion Shape Classification", "Microscopy/Liver/Lesion Laterality"]


def test_dial_at_zero_is_the_generator_without_it(tmp_path):
    base = dict(per_label=3, test_fraction=0.34, triplets=TRIPLETS)
    generate(tmp_path / "a", SynthConfig(**base))
    generate(tmp_path / "b", SynthConfig(**base, modality_effect=0.0, area_effect=0.0))
    for name in ("latents.jsonl", "synth.json", "catalog.yaml"):  # no new keys in any file
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = list(read_jsonl(tmp_path / "a" / "latents.jsonl"))
    assert all(set(le) == {"x", "y", "r", "shape", "angle", "contrast"} for r in rows for le in r["lesions"])
    assert "modality_effect" not in json.loads((tmp_path / "a" / "synth.json").read_text())["config"]
    # the dressed drawing with the standard look IS the plain blob (no jump at the dial's zero)
    g = grid(64)
    lesion = Lesion(x=0.1, y=-0.2, r=0.12, shape="spiculated", angle=0.4)
    plain, dressed = np.zeros((64, 64), np.float32), np.zeros((64, 64), np.float32)
    draw_lesion(plain, lesion, g)
    draw_dressed(dressed, lesion, g)
    np.testing.assert_allclose(plain, dressed, atol=1e-6)


def test_dial_changes_looks_deterministically_and_is_recorded(tmp_path):
    cfg = SynthConfig(per_label=2, test_fraction=0.5, triplets=TRIPLETS, modality_effect=1, area_effect=0.5)
    a, b = sample_latents(cfg), sample_latents(cfg)
    assert a == b
    plain = sample_latents(SynthConfig(per_label=2, test_fraction=0.5, triplets=TRIPLETS))
    assert [x.label for x in a] == [x.label for x in plain] and [len(x.lesions) for x in a] == [len(x.lesions) for x in plain]
    us = next(x for x in a if x.modality == "Ultrasound")
    look, area = blend("Ultrasound", "Kidney", 1, 0.5)
    assert all(le.contrast == look.fill < 0 and le.rim == look.rim and le.halo == area.halo for le in us.lesions)
    s = generate(tmp_path, cfg)
    meta = json.loads((tmp_path / "synth.json").read_text())["config"]
    assert meta["modality_effect"] == 1 and meta["area_effect"] == 0.5 and s.n_images == len(a)
    assert not np.array_equal(render(a[0], 64), render(plain[0], 64))


@pytest.mark.parametrize("m", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_every_blend_keeps_findings_visible(m):
    for modality in MODALITY_LOOKS:
        for area in AREA_LOOKS:
            look, area_look = blend(modality, area, m, m)
            assert look_strength(look, area_look.halo) >= MIN_STRENGTH, (modality, area, m)
    design = load_design()
    g = grid(64)
    for modality in design.modalities:  # the drawn finding adds real contrast at every setting
        look, area_look = blend(modality, "Brain", m, m)
        lesion = Lesion(x=0.0, y=0.0, r=0.1, contrast=look.fill, rim=look.rim, texture=look.texture,
                        edge=look.edge, halo=area_look.halo)
        tissue = np.zeros((64, 64), np.float32)
        (draw_lesion if lesion.plain else draw_dressed)(tissue, lesion, g)
        assert np.abs(tissue).max() >= MIN_STRENGTH, (modality, m)


def test_area_effect_scales_findings_and_every_design_triplet_still_places():
    latents = sample_latents(SynthConfig(per_label=2, test_fraction=0.5, area_effect=1.0, modality_effect=1.0))
    plain = sample_latents(SynthConfig(per_label=2, test_fraction=0.5))
    assert len(latents) == len(plain)
    brain = [le.r for x in latents if x.area == "Brain" and x.task == "Lesion Presence" for le in x.lesions]
    brain0 = [le.r for x in plain if x.area == "Brain" and x.task == "Lesion Presence" for le in x.lesions]
    assert brain and np.mean(brain) < np.mean(brain0)  # Brain findings are smaller at area_effect 1


def test_dial_settings_are_checked():
    with pytest.raises(ValueError):
        SynthConfig(modality_effect=1.5)
    with pytest.raises(ValueError):
        SynthConfig(area_effect=-0.1)


# -- transfer across modalities: a tiny CNN (conv + global max pool), trained on one modality -----------
def _images(modality: str, m: float, n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = SynthConfig(seed=5, modality_effect=m)
    xs, ys = [], []
    for label, y in (("abnormal", 1.0), ("normal", 0.0)):
        for i in range(offset, offset + n):
            img = render(sample_one(Job(f"{modality}/Kidney/Lesion Presence", "presence", label, i), cfg), 64)
            gray = img.astype(np.float32).mean(axis=2).reshape(32, 2, 32, 2).mean(axis=(1, 3))
            xs.append((gray - gray.mean()) / (gray.std() + 1e-6))
            ys.append(y)
    return torch.tensor(np.stack(xs))[:, None], torch.tensor(ys)


def _fit(x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), 2e-2)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x).squeeze(1), y).backward()
        opt.step()
    return net


def _accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(((net(x).squeeze(1) > 0).float() == y).float().mean())


def test_at_modality_effect_one_a_finding_learned_on_one_modality_transfers_worse():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        acc = {}
        for m in (0.0, 1.0):
            net = _fit(*_images("CT", m, 40, 0))
            acc[m] = {mod: _accuracy(net, *_images(mod, m, 30, 100)) for mod in ("CT", "MRI", "X-ray", "Ultrasound")}
        own = _fit(*_images("MRI", 1.0, 40, 0))
        mri_own = _accuracy(own, *_images("MRI", 1.0, 30, 100))
    finally:
        torch.set_num_threads(threads)
    others = lambda m: np.mean([acc[m][x] for x in ("MRI", "X-ray", "Ultrasound")])  # noqa: E731
    assert acc[0.0]["CT"] >= 0.9 and acc[1.0]["CT"] >= 0.9  # learnable on its own modality at both settings
    assert others(0.0) >= 0.8  # at 0 a finding looks alike: it transfers
    assert others(1.0) <= others(0.0) - 0.2, acc  # at 1 it does not
    assert mri_own >= 0.85  # ... though each modality's own look is learnable (labels recoverable)
