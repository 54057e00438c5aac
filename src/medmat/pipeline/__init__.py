"""Build orchestration: raw datasets -> records (stage 1, per dataset, resumable) -> store.

``build_store`` is what ``medmat build`` runs. The reader and the materialiser are
parameters (defaulting to ``medmat.sources.read_dataset`` and
``medmat.imaging.materialize``) so tests and other callers can substitute them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from medmat.pipeline.settings import BuildSettings, DatasetJob
from medmat.pipeline.stage1 import DatasetResult, fingerprint, run_stage1
from medmat.pipeline.stage2 import write_stage2
from medmat.vqa.builder import SubsetSpec

__all__ = ["BuildSettings", "DatasetJob", "DatasetResult", "build_store", "fingerprint", "run_stage1"]


def _default_reader() -> Callable[..., Any]:
    from medmat.sources import read_dataset

    return read_dataset


def _default_materializer() -> Callable[..., Any]:
    from medmat.imaging import materialize

    return materialize


def build_store(
    jobs: list[DatasetJob],
    subsets: list[SubsetSpec],
    data_root: str | Path,
    store_root: str | Path,
    settings: BuildSettings | None = None,
    reader: Callable[..., Any] | None = None,
    materializer: Callable[..., Any] | None = None,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, DatasetResult]]:
    """Run both stages; returns (summary as written to summary.json, per-dataset results).

    ``progress`` is an optional rich Progress: one task per dataset is added to it.
    """
    settings = settings or BuildSettings()
    data_root, store_root = Path(data_root), Path(store_root)
    store_root.mkdir(parents=True, exist_ok=True)
    reader = reader or _default_reader()
    materializer = materializer or _default_materializer()
    known = {ds for s in subsets for ds in s.datasets}
    missing = sorted(j.id for j in jobs if j.id not in known)
    if missing:
        raise ValueError(f"datasets {missing} belong to no subset being built")
    results: dict[str, DatasetResult] = {}
    overall = progress.add_task("datasets", total=len(jobs)) if progress is not None else None
    for job in sorted(jobs, key=lambda j: j.id):
        results[job.id] = run_stage1(job, job.data_root or data_root, store_root, settings, reader, materializer,
                                     progress)
        if progress is not None:
            progress.advance(overall)
    summary = write_stage2(store_root, subsets, results, settings)
    return summary, results
