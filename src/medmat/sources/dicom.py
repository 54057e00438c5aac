"""Reader for DICOM datasets: labels from a folder per label or from a table.

The reader only reads headers (pixel data is deferred): it records files without pixel
data or with unreadable headers as skips, expands multi-frame files per ``frame_policy``,
and turns the Modality / BodyPartExamined tags into MAT hints. Pixels are decoded later,
once, by medmat.imaging when the image is materialised.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import DICOM_EXTENSIONS, Entry, ReaderContext, SourceError, lget
from medmat.sources.class_folders import iter_folder_entries
from medmat.sources.tables import iter_table_entries

# DICOM modality codes the MAT vocabulary has no alias for.
_DICOM_MODALITY = {
    "OP": "Fundus Photography", "OPT": "OCT", "OCT": "OCT", "XC": "Digital Photography", "GM": "Microscopy",
    "SM": "Microscopy", "ES": "Endoscopy", "PX": "X-ray", "IO": "X-ray", "RF": "X-ray", "XA": "X-ray",
}


def mat_hint(modality: str | None, body_part: str | None) -> dict[str, str | None]:
    """Canonical MAT modality/area suggested by the DICOM tags (None where unknown)."""
    from medmat.mat.vocab import UnknownTermError, default_vocabulary

    vocab = default_vocabulary()

    def norm(kind: str, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return vocab.normalize(kind, value)  # type: ignore[arg-type]
        except UnknownTermError:
            return _DICOM_MODALITY.get(value.upper()) if kind == "modality" else None

    return {"modality": norm("modality", modality), "area": norm("area", body_part)}


def entries_for(ctx: ReaderContext, layout: Any, extensions: tuple[str, ...]) -> Iterator[Entry | Skip]:
    label_from = lget(layout, "label_from", "folder")
    if label_from == "folder":
        return iter_folder_entries(ctx, layout, extensions)
    if label_from == "table":
        return iter_table_entries(ctx, layout)
    raise SourceError(f"dataset {ctx.dataset_id}: label_from must be 'folder' or 'table', got {label_from!r}")


def _dicom_meta(ds, policy: str, frames: int) -> dict[str, Any]:
    from medmat.imaging.dicom import int_tag, str_tag

    modality, body = str_tag(ds, "Modality"), str_tag(ds, "BodyPartExamined")
    try:
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    except Exception:
        syntax = ""
    return {
        "source_format": "dicom", "frame_policy": policy, "n_frames": frames,
        "dicom": {
            "modality": modality or None, "body_part": body or None,
            "photometric": str_tag(ds, "PhotometricInterpretation") or None,
            "rows": int_tag(ds, "Rows"), "columns": int_tag(ds, "Columns"),
            "transfer_syntax": syntax or None,
        },
        "mat_hint": mat_hint(modality, body),
    }


def read_dicom_dataset(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    from medmat.imaging.convert import ImageError
    from medmat.imaging.dicom import FRAME_POLICIES, check_dicom_size, check_frames_plausible, n_frames, read_dicom

    policy = lget(layout, "frame_policy", "middle")
    if policy not in FRAME_POLICIES:
        raise SourceError(f"dataset {ctx.dataset_id}: frame_policy must be one of {FRAME_POLICIES}, got {policy!r}")
    window = lget(layout, "window", None)
    window = [float(window[0]), float(window[1])] if window else None
    for entry in entries_for(ctx, layout, DICOM_EXTENSIONS):
        if isinstance(entry, Skip):
            yield entry
            continue
        path = ctx.data_root / entry.relpath
        try:
            ds = read_dicom(str(path), header_only=True)
            if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                raise ImageError("dicom-no-pixel-data", "the file has no Pixel Data element")
            check_frames_plausible(ds, os.path.getsize(path))
            check_dicom_size(ds, ctx.limits)
            frames = n_frames(ds)
            meta = _dicom_meta(ds, policy, frames)
        except ImageError as e:
            yield ctx.skip(entry.relpath, e.reason, e.detail)
            continue
        if window:
            meta["window"] = window
        if policy == "all":
            for i in range(frames):
                yield ctx.make_records(entry, parts=(f"frame={i}",), meta={**meta, "frame": i})
        elif policy == "mip":
            yield ctx.make_records(entry, meta=meta)
        else:
            yield ctx.make_records(entry, meta={**meta, "frame": 0 if policy == "first" else frames // 2})
