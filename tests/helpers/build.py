"""Fixtures shared by the build/export/audit tests (``from helpers.build import ...``).

``fake_reader``/``fake_materialize`` are small stand-ins with the signatures of
``medmat.sources.read_dataset`` and ``medmat.imaging.materialize``, for store-logic tests
that inject them (and for interrupting a build at a chosen point).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from medmat.records import LabeledRecord, Skip


def png(path: Path, seed: int, size: int = 32, pattern: str = "noise") -> Path:
    """A distinct image per seed (smoothed noise so perceptual hashes differ)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((size, size), Image.BILINEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def class_folders(root: Path, counts: dict[str, int], seed0: int = 0, split_dirs: dict[str, str] | None = None) -> Path:
    """root/<label>/<i>.png (or root/<split>/<label>/...) with distinct images."""
    k = seed0
    for label, n in counts.items():
        for i in range(n):
            k += 1
            if split_dirs:
                split = "test" if i % 5 == 0 else "train"
                png(root / split_dirs[split] / label / f"{i:03d}.png", k)
            else:
                png(root / label / f"{i:03d}.png", k)
    return root


def fake_reader(dataset_id, layout, data_root, labels=None, label_aliases=None):
    base = Path(data_root) / getattr(layout, "root", ".")
    splits = dict(getattr(layout, "split_dirs", {}) or {}) or {None: "."}
    for split, sub in sorted(splits.items(), key=lambda kv: str(kv[0])):
        for label_dir in sorted(p for p in (base / sub).iterdir() if p.is_dir()):
            label = (label_aliases or {}).get(label_dir.name, label_dir.name)
            for f in sorted(label_dir.iterdir()):
                rel = f.relative_to(data_root).as_posix()
                if labels is not None and label not in labels:
                    yield Skip(dataset_id, rel, "unknown-label", label)
                    continue
                if f.suffix != ".png":
                    yield Skip(dataset_id, rel, "not-an-image", "")
                    continue
                rid = hashlib.sha256(f"{dataset_id}/{rel}".encode()).hexdigest()[:16]
                yield LabeledRecord(rid, dataset_id, rel, (label,), split=split)


def fake_materialize(records, data_root, store_root, max_side=None, fmt="auto", workers=1, progress=None):
    out, skips = [], []
    for r in records:
        src = Path(data_root) / r.image
        try:
            Image.open(src).verify()
        except Exception as e:  # noqa: BLE001 - recorded as a skip
            skips.append(Skip(r.dataset, r.image, "corrupt-image", str(e)))
            continue
        data = src.read_bytes()
        h = hashlib.sha256(data).hexdigest()
        rel = f"images/{h[:2]}/{h}.png"
        (Path(store_root) / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, Path(store_root) / rel)
        out.append(LabeledRecord(r.id, r.dataset, rel, r.labels, r.split, r.group, {**r.meta, "image_hash": h}))
    return out, skips


def small_store(tmp_path: Path, counts: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A built store of one 3-label subset (in-process, fake IO): for export/audit tests."""
    from medmat.catalog.models import ClassFoldersLayout
    from medmat.build import BuildSettings, DatasetJob, build_store
    from medmat.vqa import SubsetSpec

    raw = class_folders(tmp_path / "raw", counts or {"a": 12, "b": 12, "c": 12})
    job = DatasetJob("ds1", "s1", ClassFoldersLayout(root="."))
    spec = SubsetSpec("s1", "CT/Lung/COVID-19 Classification", sorted((counts or {"a": 1, "b": 1, "c": 1})),
                      [f"Template {i}?" for i in range(6)], datasets=["ds1"])
    store = tmp_path / "store"
    build_store([job], [spec], raw, store, BuildSettings(seed=seed), reader=fake_reader, materializer=fake_materialize)
    return store
