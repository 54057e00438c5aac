"""Reader for NIfTI volumes: one record per chosen 2-D slice.

Slices are chosen on the canonical (RAS+) volume, so ``slice_policy='middle'`` along
``axis='axial'`` is the same anatomical plane whatever the file's affine. The reader only
reads headers (and, for 'max-area', the mask); voxels are read when materialised.

Layout fields: ``slice_policy`` ('middle' | 'all' | 'max-area' | 'index:N'), ``axis``
('axial' | 'coronal' | 'sagittal' | 0-2), ``window`` ([center, width]) or ``percentiles``
([low, high], default [0.5, 99.5]), ``mask_suffix`` (for 'max-area': the mask of
``x.nii.gz`` is ``x`` + suffix, e.g. '_mask.nii.gz').
"""

from __future__ import annotations

from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import NIFTI_EXTENSIONS, ReaderContext, SourceError, is_file, lget
from medmat.sources.dicom import entries_for


def _stem(relpath: str) -> str:
    low = relpath.lower()
    for ext in (".nii.gz", ".nii"):
        if low.endswith(ext):
            return relpath[: -len(ext)]
    return relpath


def _policy(ctx: ReaderContext, layout: Any) -> tuple[str, int | None]:
    policy = str(lget(layout, "slice_policy", "middle")).replace("max_area", "max-area")  # catalog spelling
    if policy.startswith("index:"):
        try:
            return "index", int(policy.split(":", 1)[1])
        except ValueError:
            raise SourceError(f"dataset {ctx.dataset_id}: slice_policy {policy!r} needs an integer, e.g. 'index:12'") from None
    if policy not in ("middle", "all", "max-area"):
        raise SourceError(f"dataset {ctx.dataset_id}: slice_policy must be middle, all, max-area or index:N, got {policy!r}")
    if policy == "max-area" and not lget(layout, "mask_suffix", None):
        raise SourceError(f"dataset {ctx.dataset_id}: slice_policy 'max-area' needs a mask_suffix")
    return policy, None


def read_nifti_dataset(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    from medmat.imaging.convert import ImageError
    from medmat.imaging.nifti import axis_index, canonical_shape, check_volume_size, load_header, mask_areas

    policy, fixed = _policy(ctx, layout)
    try:
        axis = axis_index(lget(layout, "axis", "axial"))
    except ValueError as e:
        raise SourceError(f"dataset {ctx.dataset_id}: {e}") from None
    window = lget(layout, "window", None)
    percentiles = lget(layout, "percentiles", None) or lget(layout, "percentile", None) or [0.5, 99.5]
    mask_suffix = lget(layout, "mask_suffix", None)
    base_meta: dict[str, Any] = {"source_format": "nifti", "axis": axis, "slice_policy": policy}
    if window:
        base_meta["window"] = [float(window[0]), float(window[1])]
    else:
        base_meta["percentiles"] = [float(percentiles[0]), float(percentiles[1])]
    for entry in entries_for(ctx, layout, NIFTI_EXTENSIONS):
        if isinstance(entry, Skip):
            yield entry
            continue
        if mask_suffix and entry.relpath.endswith(mask_suffix):
            continue  # a mask beside its image is not an image of its own
        path = ctx.data_root / entry.relpath
        try:
            img = load_header(str(path))
            check_volume_size(img, ctx.limits)
            shape = canonical_shape(img)
        except ImageError as e:
            yield ctx.skip(entry.relpath, e.reason, e.detail)
            continue
        n = shape[axis]
        meta = {**base_meta, "shape": list(shape), "n_volumes": int(img.shape[3]) if len(img.shape) > 3 else 1}
        if policy == "all":
            for i in range(n):
                yield ctx.make_records(entry, parts=(f"slice={axis}:{i}",), meta={**meta, "slice": i})
            continue
        if policy == "middle":
            index = n // 2
        elif policy == "index":
            index = fixed if fixed is not None else 0
            if not 0 <= index < n:
                yield ctx.skip(entry.relpath, "slice-out-of-range", f"slice {index} not in 0..{n - 1}")
                continue
        else:
            mask_rel = _stem(entry.relpath) + mask_suffix
            if not is_file(ctx.data_root / mask_rel):
                yield ctx.skip(entry.relpath, "missing-file", f"mask {mask_rel} not found")
                continue
            try:
                areas = mask_areas(str(ctx.data_root / mask_rel), axis, ctx.limits)
            except ImageError as e:
                yield ctx.skip(entry.relpath, e.reason, f"mask {mask_rel}: {e.detail}")
                continue
            if len(areas) != n:
                yield ctx.skip(entry.relpath, "nifti-corrupt", f"mask {mask_rel} shape differs from the image")
                continue
            if not areas.any():
                yield ctx.skip(entry.relpath, "empty-mask", f"mask {mask_rel} has no foreground")
                continue
            index = int(areas.argmax())
            meta["mask"] = mask_rel
        yield ctx.make_records(entry, parts=(f"slice={axis}:{index}",), meta={**meta, "slice": index})
