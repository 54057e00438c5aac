"""The mutation-fuzz harness: mutated files through medmat's readers and materialiser.

``make_case(fmt, seed, index)`` deterministically draws a seed file of ``fmt``
(``fuzz_seeds``), mutates it (``fuzz_mutate``/``fuzz_medical``/``fuzz_text``) and picks
reader options (frame and slice policies ...). ``run_case`` puts it into a fresh data
root as the dataset layout of its kind expects, runs ``read_dataset`` and ``materialize``
(with the per-file limits in guarded workers, as a build does), or ``load_catalog`` for
catalog YAML, and classifies what happened:

  good:   'written' (>= 1 image stored), 'skipped' (every record a Skip with a reason),
          'empty' (nothing to read), 'error' (the dataset-level clear error of its reader)
  bad:    'crash' (any other exception: a traceback), 'unexpected-skip' (a skip that only
          the materialiser's last-resort handler produced), 'unbalanced' (read != written +
          skipped), 'escape' (a file written outside the store, or the data root changed),
          'hang' (past the harness's own time limit), 'died' (the harness worker was killed,
          e.g. by its memory cap)

``campaign`` runs many cases in guarded harness workers (``medmat.imaging.workers``, the
same supervisor the build uses, with a longer time limit and its own memory cap) and
returns a ``Report``. ``benchmarks/bench_fuzz.py`` is the command line; the quick test is
``tests/test_fuzz.py``.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from helpers.fuzz_annotations import ANNOTATION_MUTATORS, write_case
from helpers.fuzz_medical import MEDICAL
from helpers.fuzz_mutate import RASTER, apply
from helpers.fuzz_seeds import ANNOTATION_FORMATS, SEEDS, TABLE_IMAGES, seeds
from helpers.fuzz_text import TEXT

MUTATORS = {**RASTER, **MEDICAL, **TEXT, **ANNOTATION_MUTATORS}
KIND = {"png": "raster", "jpeg": "raster", "tiff": "raster", "bmp": "raster", "gif": "raster", "webp": "raster",
        "dicom": "dicom", "nifti1": "nifti", "nifti1-gz": "nifti", "nifti2": "nifti", "table": "table",
        "medmat-json": "medmat-json", "catalog-yaml": "catalog", **{f: "localisation" for f in ANNOTATION_FORMATS}}
FORMATS = tuple(SEEDS)
GOOD = ("written", "skipped", "empty", "error")
BAD = ("crash", "unexpected-skip", "unbalanced", "escape", "hang", "died")
assert set(MUTATORS) == set(SEEDS) == set(KIND)


@dataclass(frozen=True)
class Case:
    fmt: str
    seed: int
    index: int
    name: str
    data: bytes
    how: str
    options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.fmt}#{self.index} (seed {self.seed}, {self.name}: {self.how})"


def make_case(fmt: str, seed: int, index: int) -> Case:
    rng = random.Random(f"medmat-fuzz/{seed}/{fmt}/{index}")  # str seeds hash with sha512: stable
    pool = seeds(fmt)
    name, data = rng.choice(pool)
    other = rng.choice(pool)[1]
    if rng.random() < 0.03:
        mutated, how = data, "unmutated"
    else:
        mutated, how = apply(MUTATORS[fmt], rng, data, other)
    options: dict[str, Any] = {}
    if KIND[fmt] == "dicom":
        options["frame_policy"] = rng.choice(("middle", "first", "all", "mip"))
    elif KIND[fmt] == "nifti":
        options["slice_policy"] = rng.choice(("middle", "all", "index:2", "max-area"))
        options["axis"] = rng.choice(("axial", "coronal", "sagittal"))
        options["as_mask"] = options["slice_policy"] == "max-area" and rng.random() < 0.5
    return Case(fmt, seed, index, name, mutated, how, options)


# -- running one case ----------------------------------------------------------------------
def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 5), value, np.uint8)).save(path)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                st = p.lstat()
            except OSError:
                continue
            out[p.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def _dataset(case: Case, raw: Path) -> tuple[dict, list[str] | None]:
    """Write the case's file(s) under ``raw``; (layout, known labels)."""
    kind = KIND[case.fmt]
    if kind == "localisation":  # a corpus of the format with the seed's file mutated (fuzz_annotations)
        return write_case(case.name, case.data, raw)
    if kind in ("raster", "dicom", "nifti"):
        target = raw / "Normal" / case.name
        target.parent.mkdir(parents=True)
        if kind == "nifti" and case.options.get("slice_policy") == "max-area":
            import gzip

            from helpers.fuzz_seeds import nifti1_seeds

            ext = ".nii.gz" if case.name.endswith(".gz") else ".nii"
            stem = case.name[: -len(ext)]
            valid = dict(nifti1_seeds())["f32.nii"]
            valid = gzip.compress(valid, mtime=0) if ext.endswith(".gz") else valid
            image, mask = (valid, case.data) if case.options.get("as_mask") else (case.data, valid)
            (target.parent / (stem + ext)).write_bytes(image)  # the mutated file is the image or its mask
            (target.parent / (stem + "_mask" + ext)).write_bytes(mask)
            return {"type": "nifti", "slice_policy": "max-area", "axis": case.options["axis"],
                    "mask_suffix": "_mask" + ext}, None
        target.write_bytes(case.data)
        if kind == "raster":
            return {"type": "class_folders"}, ["Normal"]
        if kind == "dicom":
            return {"type": "dicom", "frame_policy": case.options["frame_policy"]}, ["Normal"]
        return {"type": "nifti", "slice_policy": case.options["slice_policy"], "axis": case.options["axis"]}, None
    for i, x in enumerate(TABLE_IMAGES):
        _png(raw / "imgs" / f"{x}.png", 20 * i)
    if kind == "table":
        (raw / case.name).write_bytes(case.data)
        layout = {"single.csv": {"image_column": "file", "label_column": "dx", "split_column": "fold",
                                 "group_column": "patient", "image_dir": "imgs", "image_suffix": ".png"},
                  "onehot.tsv": {"image_column": "img", "label_columns": ["Effusion", "Mass"], "empty_label": "None"},
                  "delimited.csv": {"label_column": "labels", "label_delimiter": "|"}}[case.name]
        return {"type": "label_table", "table": case.name, **layout}, None
    (raw / case.name).write_bytes(case.data)
    return {"type": "medmat_json", "file": case.name, "image_root": "imgs"}, None


def _run_dataset(case: Case, root: Path, limits) -> dict[str, Any]:
    from medmat.imaging import materialize
    from medmat.records import Skip
    from medmat.sources import SourceError, read_dataset

    raw = root / "raw"
    layout, labels = _dataset(case, raw)
    before = _snapshot(raw)
    try:
        items = list(read_dataset("fz", layout, raw, labels=labels, limits=limits))
    except SourceError as e:
        return {"outcome": "error", "detail": str(e)[:300], "raw_before": before}
    skips = [x for x in items if isinstance(x, Skip)]
    records = [x for x in items if not isinstance(x, Skip)]
    out, mskips = materialize(records, raw, root / "store", workers=1, limits=limits)
    skips += mskips
    res: dict[str, Any] = {"read": len(items), "written": len(out), "skipped": len(skips),
                           "reasons": dict(Counter(s.reason for s in skips)), "raw_before": before}
    unexpected = [s for s in skips if s.detail.startswith("unexpected")]
    if len(out) + len(mskips) != len(records) or len(out) + len(skips) != len(items):
        res.update(outcome="unbalanced", detail=f"read {len(items)} != written {len(out)} + skipped {len(skips)}")
    elif unexpected:
        res.update(outcome="unexpected-skip", detail=f"{unexpected[0].reason}: {unexpected[0].detail}"[:500])
    else:
        res["outcome"] = "written" if out else "skipped" if items else "empty"
    return res


def _run_catalog(case: Case, root: Path, limits) -> dict[str, Any]:
    from medmat.catalog import CatalogError, load_catalog
    from medmat.sources import SourceError, read_dataset

    raw = root / "raw"
    _png(raw / "a" / "tr" / "covid" / "1.png", 10)
    _png(raw / "a" / "te" / "normal" / "2.png", 20)
    (raw / "t.csv").write_text("image,dx,fold\na/tr/covid/1.png,covid,train\na/te/normal/2.png,normal,test\n")
    path = root / case.name
    path.write_bytes(case.data)
    before = _snapshot(raw)
    try:
        cat = load_catalog(user_files=[path])
    except CatalogError as e:
        return {"outcome": "error", "detail": f"{len(e.errors)} catalog error(s)", "raw_before": before}
    read = 0
    for entry in cat.datasets.values():
        if entry.layout is None or not str(getattr(entry, "id", "")).startswith("ds-"):
            continue
        try:
            read += sum(1 for _ in read_dataset(entry.id, entry.layout, raw, labels=entry.labels,
                                                label_aliases=entry.label_aliases, limits=limits))
        except SourceError:
            pass  # a user layout whose folder or table is not there: a clear error
    return {"outcome": "written" if read else "empty", "read": read, "raw_before": before}


RUNNERS: dict[str, Callable[[Case, Path, Any], dict[str, Any]]] = {
    "raster": _run_dataset, "dicom": _run_dataset, "nifti": _run_dataset, "table": _run_dataset,
    "medmat-json": _run_dataset, "catalog": _run_catalog, "localisation": _run_dataset,
}


def run_case(case: Case, limits, base: str | None = None) -> dict[str, Any]:
    """Run one case in a fresh folder (removed afterwards); the outcome dict (see module doc)."""
    root = Path(tempfile.mkdtemp(prefix="fz-", dir=base))
    cwd = os.getcwd()
    start = time.perf_counter()
    try:
        os.chdir(root)  # a relative write would land here, and be seen
        try:
            res = RUNNERS[KIND[case.fmt]](case, root, limits)
        except Exception as e:  # the finding: a traceback instead of a skip or a clear error
            res = {"outcome": "crash", "detail": f"{type(e).__name__}: {e}"[:300],
                   "traceback": traceback.format_exc()[-4000:]}
        before = res.pop("raw_before", None)
        after = _snapshot(root)
        stray = sorted(p for p in after if not p.startswith(("raw/", "store/")) and p != case.name)
        if before is not None and {p: v for p, v in after.items() if p.startswith("raw/")} != {
                f"raw/{p}": v for p, v in before.items()}:
            stray.append("raw/ (the data root changed)")
        if stray and res["outcome"] in GOOD:
            res.update(outcome="escape", detail=f"files outside the store: {stray[:5]}")
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)
    res["seconds"] = time.perf_counter() - start
    return res


def _maxrss_mb() -> tuple[float, float]:
    kb = 1024.0
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kb,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kb)


def _quiet() -> None:
    """Damaged files make pydicom, PIL and nibabel warn on every one; the outcome is what counts."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("nibabel").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    import pycocotools.mask  # noqa: F401  (imported once here, so each case's forked decoders need not)
    import scipy.ndimage  # noqa: F401


def harness_task(task: tuple) -> tuple[str, bool, tuple]:
    """One case in a harness worker: (key, True, (outcome dict,))."""
    key, fmt, seed, index, limits, base = task
    _quiet()
    case = make_case(fmt, seed, index)
    res = run_case(case, limits, base)
    res["rss_mb"], res["child_rss_mb"] = _maxrss_mb()
    res["name"], res["how"] = case.name, case.how
    return key, True, (res,)
