"""Build settings and the unit of stage-1 work (one dataset to read and materialise)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medmat.vqa.aggregate import DEFAULT_CAP


@dataclass(frozen=True)
class BuildSettings:
    """Knobs of ``medmat build``.

    seed       every split, distractor, template and letter choice derives from it
    cap        per-subset training cap recorded in store.json/summary.json (the store keeps
               every item; ``VQAStore.capped_train`` applies it); None = no cap
    max_side   longest image side after materialisation (None = keep size)
    fmt        stored image format ('auto' keeps lossless sources as PNG, JPEG as JPEG)
    workers    processes used to materialise images
    merge_val  dataset 'val' splits count as train (Med-MAT has train and test only)
    """

    seed: int = 0
    cap: int | None = DEFAULT_CAP
    max_side: int | None = None
    fmt: str = "auto"
    workers: int = 1
    merge_val: bool = True

    def stage1_key(self) -> dict[str, Any]:
        """The settings that change stage-1 output (part of its fingerprint)."""
        return {"max_side": self.max_side, "fmt": self.fmt}


@dataclass
class DatasetJob:
    """One dataset to read: what ``medmat.sources.read_dataset`` needs, and its subset."""

    id: str
    subset: str
    layout: Any  # a catalog Layout model
    labels: list[str] | None = None
    label_aliases: dict[str, str] = field(default_factory=dict)
    data_root: Path | None = None  # this dataset's own root; None = the build's data root
