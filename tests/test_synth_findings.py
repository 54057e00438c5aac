"""Synthetic findings: labels match latents, findings are where the label says, and both
modality and task labels are learnable by simple models on held-out images."""

from __future__ import annotations

import numpy as np
import pytest

from medmat.synth import SynthConfig, load_design, render, sample_latents
from medmat.synth.findings import label_of
from medmat.synth.grids import grid
from medmat.synth.anatomy import organ_frame


def _diff(latent, size=64):
    a = render(latent, size).astype(np.float32)
    b = render(latent.without_lesions(), size).astype(np.float32)
    return np.abs(a - b).sum(-1)


def test_every_label_matches_its_latent_findings():
    design = load_design()
    lat = sample_latents(SynthConfig(per_label=2))
    assert len(lat) == 2 * sum(len(design.task(t.split("/")[2]).labels) for t in design.triplets)
    for l in lat:
        assert label_of(l, design.task(l.task).key) == l.label
        for les in l.lesions:  # findings stay inside the visible disc
            assert les.x ** 2 + les.y ** 2 < 0.8 ** 2


def test_presence_lesion_changes_pixels_only_inside_the_organ():
    lat = sample_latents(SynthConfig(per_label=3, tasks=["presence"]))
    assert {l.label for l in lat} == {"abnormal", "normal"}
    for l in lat:
        d = _diff(l)
        if l.label == "normal":
            assert not l.lesions and d.max() == 0
            continue
        organ = organ_frame(l.area, l.pose, grid(64)).organ > 0.02
        grown = organ.copy()  # one pixel of slack for anti-aliased edges
        grown[1:] |= organ[:-1]; grown[:-1] |= organ[1:]; grown[:, 1:] |= organ[:, :-1]; grown[:, :-1] |= organ[:, 1:]
        assert d.sum() > 300, (l.modality, l.area)  # clearly visible at 64 px
        assert d[~grown].sum() == 0


def test_laterality_side_is_the_side_of_the_difference():
    lat = sample_latents(SynthConfig(per_label=4, tasks=["laterality"]))
    xs = grid(64).X
    for l in lat:
        d = _diff(l)
        cx = (d * xs).sum() / d.sum()
        assert (cx < 0) == (l.label == "left"), (l.modality, l.area, cx)
        assert abs(cx) > 0.1


def test_shape_labels_are_geometric():
    lat = sample_latents(SynthConfig(per_label=3, tasks=["shape"]))
    size = 128
    X, Y = grid(size).X, grid(size).Y
    fill, elong = {}, {}
    for l in lat:
        m = _diff(l, size) > 20
        w = m.astype(np.float64)
        cx, cy = (w * X).sum() / w.sum(), (w * Y).sum() / w.sum()
        cov = np.cov(np.stack([X[m] - cx, Y[m] - cy]))
        ev = np.linalg.eigvalsh(cov)
        rmax = np.sqrt(((X[m] - cx) ** 2 + (Y[m] - cy) ** 2).max())
        fill.setdefault(l.label, []).append(m.sum() * (2 / size) ** 2 / (np.pi * rmax ** 2))
        elong.setdefault(l.label, []).append(ev[1] / ev[0])
    assert min(elong["elongated"]) > 2.5 > max(elong["round"] + elong["spiculated"])
    assert max(fill["spiculated"]) < 0.7 < min(fill["round"])


def test_severity_grows_with_label():
    lat = sample_latents(SynthConfig(per_label=3, tasks=["severity"]))
    mass = {}
    for l in lat:
        mass.setdefault(l.label, []).append(_diff(l).sum())
    assert max(mass["mild"]) < min(mass["severe"])
    assert np.median(mass["mild"]) < np.median(mass["moderate"]) < np.median(mass["severe"])


def _ncc(F, y, train, test):
    mu, sd = F[train].mean(0), F[train].std(0) + 1e-6
    G = (F - mu) / sd
    classes = sorted(set(y[train]))
    C = np.stack([G[train][y[train] == c].mean(0) for c in classes])
    pred = np.array(classes)[((G[test][:, None, :] - C[None]) ** 2).sum(-1).argmin(1)]
    return float((pred == y[test]).mean())


def test_modality_is_recoverable_by_nearest_centroid():
    lat = sample_latents(SynthConfig(per_label=2, test_fraction=0.5))
    X = np.stack([render(l, 64) for l in lat]).astype(np.float32) / 255
    q = np.clip((X * 4).astype(int), 0, 3)
    idx = (q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).reshape(len(X), -1)
    hist = np.stack([np.bincount(i, minlength=64) for i in idx]) / idx.shape[1]
    small = X.reshape(len(X), 8, 8, 8, 8, 3).mean((2, 4)).reshape(len(X), -1)
    y = np.array([l.modality for l in lat])
    split = np.array([l.split for l in lat])
    acc = _ncc(np.concatenate([hist, small], 1), y, split == "train", split == "test")
    assert acc > 0.7  # chance 1/8


@pytest.mark.parametrize("modality,task,per_label", [("CT", "presence", 64), ("MRI", "laterality", 32)])
def test_task_labels_are_learnable_within_a_modality(modality, task, per_label):
    """A tiny CNN trained a few seconds on one modality's triplets of a task, tested on held-out images."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lat = sample_latents(SynthConfig(per_label=per_label, test_fraction=0.25, modalities=[modality], tasks=[task]))
    labels = load_design().task(task).labels
    X = torch.tensor(np.stack([render(l, 64) for l in lat])).permute(0, 3, 1, 2).float() / 255
    X = torch.nn.functional.avg_pool2d(X, 2)  # 32 px keeps the findings and trains 4x faster
    y = torch.tensor([labels.index(l.label) for l in lat])
    train = torch.tensor([l.split == "train" for l in lat])
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d((1, 2)),
                        nn.Flatten(), nn.Linear(64, len(labels)))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    idx = torch.nonzero(train).squeeze(1)
    for _ in range(10):
        perm = idx[torch.randperm(len(idx))]
        for b in range(0, len(perm), 32):
            k = perm[b:b + 32]
            loss = nn.functional.cross_entropy(net(X[k]), y[k])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (net(X[~train]).argmax(1) == y[~train]).float().mean().item()
    assert acc >= 0.8, acc  # chance 0.5
