"""``generate``: write the synthetic benchmark as ordinary raw datasets plus a user catalog.

Layout of ``out_dir``::

    raw/<dataset_id>/<train|test>/<label>/<image_id>.png
    catalog.yaml     # user catalog (see docs/ARCHITECTURE.md): load with --catalog, data root OUT/raw
    latents.jsonl    # one row per image: the Latent + size + sha256 of the PNG
    synth.json       # config, design version, counts
    raw/<dataset_id>/boxes.csv   # localisation datasets only (SynthConfig.localisation)

Resumable: an image whose latent row and PNG hash already match the previous run's
``latents.jsonl`` is not rendered again. All files are written atomically, in a fixed
order, without timestamps, so the same config gives byte-identical folders.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import yaml
from pydantic import BaseModel

from medmat.io import read_json, read_jsonl, write_json, write_jsonl, write_text
from medmat.synth.catalog_out import build_catalog
from medmat.synth.design import load_design
from medmat.synth.latent import SynthConfig
from medmat.synth.localisation import localisation_triplets, write_tables
from medmat.synth.png import encode_png
from medmat.synth.rendering import render
from medmat.synth.sample import Job, dataset_id, jobs, resolve_triplets, sample_one

FORMAT_VERSION = 1
CHUNK = 64


class SynthSummary(BaseModel):
    out_dir: str
    catalog: str
    n_images: int
    n_written: int
    n_skipped: int  # already present with identical bytes (resumed)
    n_removed: int = 0  # images of an earlier run into the same folder that this config no longer makes
    counts: dict[str, dict[str, int]]  # by modality / area / task / triplet / split / label


def _work(args: tuple[list[Job], SynthConfig, str, dict[str, dict]]) -> list[tuple[dict, bool]]:
    """Sample, render and write one chunk; returns (latents row, written?) per job.

    ``previous`` holds the rows of an earlier run with the SAME config (keyed by job); a
    row whose PNG is still there with the recorded hash is reused without rendering.
    """
    chunk, config, out, previous = args
    design = load_design()
    rows = []
    for job in chunk:
        old = previous.get(job_key(job))
        if old is not None:
            path = Path(out) / old["path"]
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == old["sha256"]:
                rows.append((old, False))
                continue
        latent = sample_one(job, config, design)
        row = {**latent.model_dump(mode="json"), "size": config.size}
        data = encode_png(render(latent, config.size))
        row["sha256"] = hashlib.sha256(data).hexdigest()
        _write(Path(out) / latent.path, data)
        rows.append((row, True))
    return rows


def job_key(job: Job) -> str:
    return f"{job.triplet}|{job.label}|{job.index}"


def _write(path: Path, data: bytes) -> None:
    """Atomic (temp + rename) like medmat.io, minus the per-file fsync: images are cheap to
    re-derive and resume re-checks their hashes, while fsync per image costs 5-10x speed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _previous(out: Path, config: SynthConfig) -> dict[str, dict]:
    """Rows of a previous run with an identical config, keyed by job; else nothing."""
    f, meta = out / "latents.jsonl", out / "synth.json"
    if not f.is_file() or not meta.is_file():
        return {}
    try:
        old = read_json(meta)
        if old.get("format_version") != FORMAT_VERSION or old.get("config") != config.model_dump(mode="json"):
            return {}
        rows = {}
        for r in read_jsonl(f):
            key = f"{r['modality']}/{r['area']}/{r['task']}|{r['label']}|{r['index']}"
            rows[key] = r
        return rows
    except (ValueError, KeyError, TypeError):  # a damaged previous index only costs a re-render
        return {}


def _earlier_paths(out: Path) -> set[str]:
    """Every image path an earlier run recorded here (whatever its config)."""
    f = out / "latents.jsonl"
    try:
        return {r["path"] for r in read_jsonl(f) if isinstance(r, dict) and isinstance(r.get("path"), str)} \
            if f.is_file() else set()
    except ValueError:
        return set()


def _remove_stale(out: Path, paths: set[str]) -> int:
    """Delete images WE wrote earlier that the current config does not make, so the class
    folders never mix two configurations; files we did not write are left alone."""
    n = 0
    for rel in sorted(paths):
        p = (out / rel).resolve()
        if p.suffix == ".png" and (out / "raw").resolve() in p.parents and p.is_file():
            p.unlink()
            n += 1
    return n


def _chunks(items: list[Job], n: int) -> Iterable[list[Job]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def generate(out_dir: str | os.PathLike, config: SynthConfig | None = None, workers: int = 1,
             progress: Callable[[int], None] | None = None) -> SynthSummary:
    """Write the benchmark under ``out_dir``; ``progress(n)`` is called as n more images are done."""
    config = config or SynthConfig()
    design = load_design()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    triplets = resolve_triplets(config, design)
    located = localisation_triplets(config, design, triplets)  # [] unless SynthConfig.localisation
    todo = jobs(config, design)
    earlier = _earlier_paths(out)
    previous = _previous(out, config)
    tasks = [(c, config, str(out), {job_key(j): previous[job_key(j)] for j in c if job_key(j) in previous})
             for c in _chunks(todo, CHUNK)]
    rows: list[dict] = []
    written = 0

    def consume(results: list[tuple[dict, bool]]) -> None:
        nonlocal written
        for row, w in results:
            rows.append(row)
            written += w
        if progress:
            progress(len(results))

    if workers <= 1:
        for t in tasks:
            consume(_work(t))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_work, tasks):  # map keeps job order: output is worker-independent
                consume(res)

    removed = _remove_stale(out, earlier - {r["path"] for r in rows})
    counts = _counts(rows)
    catalog = build_catalog(triplets, design, config, located)
    if located:
        write_tables(out, rows, design, {str(t): dataset_id(t, design) for t in located})
    write_text(out / "catalog.yaml", "# written by medmat synth; data root: raw/ beside this file\n"
               + yaml.safe_dump(catalog, sort_keys=False, allow_unicode=True, width=120))
    write_jsonl(out / "latents.jsonl", rows)
    write_json(out / "synth.json", {
        "format_version": FORMAT_VERSION, "design_version": design.version,
        "config": config.model_dump(mode="json"), "n_images": len(rows),
        "triplets": [str(t) for t in triplets + located], "counts": counts,
    })
    return SynthSummary(out_dir=str(out), catalog=str(out / "catalog.yaml"), n_images=len(rows),
                        n_written=written, n_skipped=len(rows) - written, n_removed=removed, counts=counts)


def _counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    out = {}
    for key in ("modality", "area", "task", "split", "label"):
        out[key] = dict(sorted(Counter(r[key] for r in rows).items()))
    out["triplet"] = dict(sorted(Counter(f"{r['modality']}/{r['area']}/{r['task']}" for r in rows).items()))
    return out


def read_summary(out_dir: str | os.PathLike) -> dict:
    return read_json(Path(out_dir) / "synth.json")
