"""Source readers: one raw dataset layout -> LabeledRecords (or Skips saying why not).

``READERS`` maps a layout ``type`` to its reader; ``read_dataset`` is the one entry point
the build uses. Layouts may be the catalog's pydantic models, any object with the
documented attributes, or plain dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from medmat.registry import Registry
from medmat.records import LabeledRecord, Skip
from medmat.sources._common import (
    DatasetEscapesRoot, Entry, PathEscapesRoot, ReaderContext, SourceError, lget, normalize_split, safe_relpath,
)
from medmat.sources.box_table import read_box_table
from medmat.sources.class_folders import read_class_folders
from medmat.sources.coco import read_coco
from medmat.sources.mask_pairs import read_mask_pairs
from medmat.sources.dicom import read_dicom_dataset
from medmat.sources.medmat_json import read_medmat_json
from medmat.sources.nifti import read_nifti_dataset
from medmat.sources.nifti_labels import read_nifti_labels
from medmat.sources.rle_table import read_rle_table
from medmat.sources.tables import read_label_table, read_table
from medmat.sources.voc import read_voc
from medmat.sources.yolo import read_yolo

Reader = Callable[[ReaderContext, Any], Iterator["LabeledRecord | Skip"]]
READERS: Registry[Reader] = Registry("layout type")
READERS.add("class_folders", read_class_folders)
READERS.add("label_table", read_label_table)
READERS.add("dicom", read_dicom_dataset)
READERS.add("nifti", read_nifti_dataset)
READERS.add("medmat_json", read_medmat_json)
# localisation layouts (docs/localisation.md, "Readers"): records with boxes and masks
READERS.add("box_table", read_box_table)
READERS.add("coco", read_coco)
READERS.add("voc", read_voc)
READERS.add("yolo", read_yolo)
READERS.add("mask_pairs", read_mask_pairs)
READERS.add("rle_table", read_rle_table)
READERS.add("nifti_labels", read_nifti_labels)


def read_dataset(
    dataset_id: str,
    layout: Any,
    data_root: Path,
    labels: list[str] | None = None,
    label_aliases: Mapping[str, str] | None = None,
    limits: Any = None,
) -> Iterator[LabeledRecord | Skip]:
    """Every record (or Skip) of one raw dataset, in a deterministic order.

    ``limits`` (a ``medmat.imaging.limits.FileLimits``; None: its defaults) lets the DICOM
    and NIfTI readers skip a file whose header already breaks a per-file limit, before it
    is expanded into one record per frame or slice.

    Raises SourceError for a dataset that cannot be read at all (missing root, malformed
    table/json, bad layout); per-image problems are yielded as Skips. Two records with the
    same id (e.g. a table listing one image twice with the same labels) keep the first and
    record Skip('duplicate-record') for the others.
    """
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise SourceError(f"data root {data_root} is not a folder")
    kind = lget(layout, "type", None)
    if kind is None:
        raise SourceError(f"dataset {dataset_id}: layout has no 'type'")
    if str(kind) not in READERS:
        try:
            READERS.get(str(kind))
        except KeyError as e:  # UnknownNameError: carries the did-you-mean text
            raise SourceError(f"dataset {dataset_id}: {e}") from None
    reader = READERS.get(str(kind))
    if limits is None:
        from medmat.imaging.limits import FileLimits

        limits = FileLimits()
    ctx = ReaderContext(dataset_id=dataset_id, data_root=data_root, labels=labels, label_aliases=label_aliases,
                        limits=limits)
    seen: set[str] = set()
    try:
        for item in reader(ctx, layout):
            if isinstance(item, LabeledRecord):
                if item.id in seen:
                    yield ctx.skip(item.image, "duplicate-record", f"record id {item.id} already read")
                    continue
                seen.add(item.id)
            yield item
    except PathEscapesRoot as e:  # a layout path (root, table file): the dataset as a whole is unreadable
        raise DatasetEscapesRoot(str(e)) from e
    except OSError as e:  # a layout folder the OS refuses (name too long, permissions)
        raise SourceError(f"dataset {dataset_id}: cannot read its files: {type(e).__name__}: {e}"[:500]) from None


__all__ = [
    "Entry", "PathEscapesRoot", "READERS", "ReaderContext", "SourceError", "lget", "normalize_split", "read_dataset",
    "read_table", "safe_relpath",
]
