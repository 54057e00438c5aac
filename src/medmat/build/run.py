"""The build stage's one operation, :func:`build`, used by ``medmat build``, ``medmat
import-medmat`` and ``medmat run``: a :class:`BuildConfig` in, a VQA store out.

``build_store`` is its engine for raw datasets: stage 1 per dataset (read + materialise,
resumable), then stage 2 (splits, questions, store files). The reader and the
materialiser are parameters (defaulting to ``medmat.sources.read_dataset`` and
``medmat.imaging.materialize``) so tests can substitute them.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medmat.build.config import BuildConfig, BuildSettings, DatasetJob
from medmat.build.selection import BuildError, adhoc_jobs, catalog_jobs
from medmat.build.stage1 import DatasetResult, run_stage1
from medmat.build.stage2 import write_stage2
from medmat.progress import Reporter
from medmat.vqa.builder import SubsetSpec


@dataclass
class BuildOutcome:
    store: Path
    summary: dict[str, Any]
    results: dict[str, DatasetResult]
    not_found: list[str] = field(default_factory=list)  # catalog datasets whose input is missing

    @property
    def reused(self) -> list[str]:
        return sorted(ds for ds, r in self.results.items() if r.reused)

    @property
    def n_skips(self) -> int:
        return int(self.summary["totals"]["skips_logged"])


def build_store(jobs: list[DatasetJob], subsets: list[SubsetSpec], data_root: str | Path, store_root: str | Path,
                settings: BuildSettings | None = None, reader: Callable[..., Any] | None = None,
                materializer: Callable[..., Any] | None = None, reporter: Reporter | None = None,
                ) -> tuple[dict[str, Any], dict[str, DatasetResult]]:
    """Run both stages; returns (summary as written to summary.json, per-dataset results)."""
    settings = settings or BuildSettings()
    reporter = reporter or Reporter()
    data_root, store_root = Path(data_root), Path(store_root)
    store_root.mkdir(parents=True, exist_ok=True)
    if reader is None:
        from medmat.sources import read_dataset as reader
    if materializer is None:
        from medmat.imaging import materialize as materializer
    known = {ds for s in subsets for ds in s.datasets}
    missing = sorted(j.id for j in jobs if j.id not in known)
    if missing:
        raise ValueError(f"datasets {missing} belong to no subset being built")
    results: dict[str, DatasetResult] = {}
    with reporter.task("datasets", total=len(jobs)) as overall:
        for job in sorted(jobs, key=lambda j: j.id):
            results[job.id] = run_stage1(job, job.data_root or data_root, store_root, settings, reader,
                                         materializer, reporter).release()  # stage 2 reads them from disk
            overall.advance()
    summary = write_stage2(store_root, subsets, results, settings)
    return summary, results


def _path(base: Path, p: str) -> Path:
    path = Path(p).expanduser()
    return path if path.is_absolute() else base / path


def _files(base: Path, patterns: list[str]) -> list[Path]:
    """Files matching each pattern; a pattern matching nothing is an error."""
    out: list[Path] = []
    for pat in patterns:
        full = _path(base, pat)
        hits = sorted(Path(h) for h in glob.glob(str(full))) if glob.has_magic(str(full)) else [full]
        hits = [h for h in hits if h.is_file()]
        if not hits:
            raise BuildError(f"no file matches {pat!r} (relative to {base})")
        out.extend(hits)
    return out


def input_files(cfg: BuildConfig, base_dir: str | Path | None = None) -> list[Path]:
    """The files a build reads besides the raw data: user catalogs and released json."""
    base = Path(base_dir) if base_dir is not None else Path(".")
    return [_path(base, c) for c in cfg.catalogs] + _files(base, cfg.medmat_json)


def build(cfg: BuildConfig, store_dir: str | Path, *, base_dir: str | Path | None = None,
          work_dir: str | Path | None = None, reporter: Reporter | None = None,
          reader: Callable[..., Any] | None = None, materializer: Callable[..., Any] | None = None) -> BuildOutcome:
    """Build (or resume building) the store ``cfg`` describes into ``store_dir``.

    Relative paths in ``cfg`` resolve against ``base_dir`` (default: the working folder).
    The synthetic benchmark is generated under ``work_dir`` (default ``STORE/../data/synth``)
    first; generation and stage 1 both reuse what an earlier run left. With ``cfg.strict``
    the store is written and then :class:`BuildError` is raised if anything was skipped.
    """
    from medmat.catalog import load_catalog

    reporter = reporter or Reporter()
    base = Path(base_dir) if base_dir is not None else Path(".")
    store = Path(store_dir)
    not_found: list[str] = []
    try:
        if cfg.medmat_json:
            from medmat.build.importer import import_medmat

            files = _files(base, cfg.medmat_json)
            image_root = _path(base, cfg.image_root or ".")
            if not image_root.is_dir():
                raise BuildError(f"image_root {image_root} is not a folder")
            catalog = load_catalog(user_files=[_path(base, c) for c in cfg.catalogs])
            reporter.say(f"importing {len(files)} released Med-MAT json file(s) ...")
            summary, results = import_medmat(files, image_root, store, catalog, cfg.subset_id, cfg.split, cfg,
                                             reader=reader, materializer=materializer, reporter=reporter)
            return _finish(cfg, BuildOutcome(store, summary, results))
        if cfg.adhoc is not None:
            a = cfg.adhoc
            root = _path(base, a.root)
            if not root.exists():
                raise BuildError(f"root {root} does not exist")
            jobs, subsets, data_root = adhoc_jobs(a.layout, root, a.triplet, a.dataset_id, a.subset_id, a.split_dirs)
        else:
            if cfg.synth is not None:
                from medmat.synth import generate

                out = Path(work_dir) if work_dir is not None else store.parent / "data" / "synth"
                reporter.say(f"generating the synthetic MAT benchmark ({cfg.synth.size}px, {cfg.synth.per_label} "
                             f"images per label) in {out} ...")
                with reporter.task("synthetic images") as task:
                    generate(out, cfg.synth, workers=cfg.workers, progress=task.advance)
                catalogs, data_root = [out / "catalog.yaml"], out / "raw"
            else:
                catalogs, data_root = [_path(base, c) for c in cfg.catalogs], _path(base, cfg.data_root or ".")
            cat = load_catalog(user_files=catalogs)
            jobs, subsets, not_found = catalog_jobs(cat, list(cfg.datasets), not cfg.datasets, data_root)
            if not_found:
                reporter.say(f"not built (input missing under {data_root}): {', '.join(not_found)}")
        reporter.say(f"building the VQA store from {len(jobs)} dataset(s) ...")
        summary, results = build_store(jobs, subsets, data_root, store, cfg, reader=reader, materializer=materializer,
                                       reporter=reporter)
    except OSError as e:
        raise BuildError(str(e)) from None
    return _finish(cfg, BuildOutcome(store, summary, results, not_found))


def _finish(cfg: BuildConfig, outcome: BuildOutcome) -> BuildOutcome:
    if cfg.strict and outcome.n_skips:
        raise StrictBuildError(outcome, f"strict: {outcome.n_skips} skips (see {outcome.store / 'skips.jsonl'})")
    return outcome


class StrictBuildError(BuildError):
    """Raised after a strict build wrote its store with skips; carries the outcome."""

    def __init__(self, outcome: BuildOutcome, message: str):
        super().__init__(message)
        self.outcome = outcome
