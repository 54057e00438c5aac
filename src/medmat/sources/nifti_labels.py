"""Reader for NIfTI label volumes beside their image volumes: 2-D slices with masks.

    image_pattern: "imagesTr/{id}.nii.gz"
    label_pattern: "labelsTr/{id}.nii.gz"
    values: {1: Liver, 2: Tumour}

Each image volume is paired with its label volume by the patterns. Both headers are read
and must describe the same grid: the same shape (Skip('mask-size-mismatch')) and the same
affine, i.e. the same voxel-to-world mapping (Skip('affine-mismatch')); one skip per
volume. Slices are chosen with the NIfTI reader's ``slice_policy`` ('middle', 'all',
'max_area' = the slice with the most labelled voxels, 'index:N') along ``axis``, on the
canonical (RAS+) volume, and the label slice is laid out exactly like the image slice.
Label values not in ``values`` (other than 0) are Skip('bad-mask-value') when the slice is
materialised, where its boxes are found.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import Pair, layout_root, pair_files
from medmat.sources.mask_pairs import mask_value
from medmat.sources.nifti import _policy
from medmat.sources.voc import only_file

AFFINE_TOLERANCE = 1e-3  # world units (mm): a label volume saved by another tool may round the affine


def _check_pair(ctx: ReaderContext, pair: Pair, axis: int, label_rel: str):
    from medmat.imaging.convert import ImageError
    from medmat.imaging.nifti import canonical_shape, check_volume_size, load_header

    try:
        image = load_header(str(ctx.data_root / pair.rel))
        check_volume_size(image, ctx.limits)
        shape = canonical_shape(image)
    except ImageError as e:
        raise Bad(e.reason, e.detail) from None
    try:
        labels = load_header(str(ctx.data_root / label_rel))
        check_volume_size(labels, ctx.limits)
    except ImageError as e:
        raise Bad("corrupt-mask", f"label volume {label_rel}: {e.reason}: {e.detail}") from None
    if tuple(image.shape[:3]) != tuple(labels.shape[:3]):
        raise Bad("mask-size-mismatch", f"label volume {label_rel} has shape {tuple(labels.shape[:3])}, the image "
                                        f"{tuple(image.shape[:3])}")
    a, b = np.asarray(image.affine, float), np.asarray(labels.affine, float)
    if not (np.isfinite(b).all() and np.allclose(a, b, rtol=0, atol=AFFINE_TOLERANCE)):
        raise Bad("affine-mismatch", f"label volume {label_rel} maps voxels to other positions than the image "
                                     f"(largest affine difference {float(np.nanmax(np.abs(a - b))):.4g})")
    return shape


def _slices(ctx: ReaderContext, policy: str, fixed: int | None, n: int, axis: int, label_rel: str,
            values: dict[str, int]) -> list[int]:
    from medmat.imaging.convert import ImageError
    from medmat.imaging.nifti import label_slice

    if policy == "all":
        return list(range(n))
    if policy == "middle":
        return [n // 2]
    if policy == "index":
        if fixed is None or not 0 <= fixed < n:
            raise Bad("slice-out-of-range", f"slice {fixed} not in 0..{n - 1}")
        return [fixed]
    try:
        areas = [int(np.isin(label_slice(str(ctx.data_root / label_rel), axis, i, ctx.limits),
                             [int(v) for v in values]).sum()) for i in range(n)]
    except ImageError as e:
        raise Bad("corrupt-mask" if e.reason != "bad-mask-value" else e.reason, f"{label_rel}: {e.detail}") from None
    if not any(areas):
        raise Bad("empty-mask", f"label volume {label_rel} has no labelled voxel")
    return [int(np.argmax(areas))]


def read_nifti_labels(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    from medmat.imaging.nifti import axis_index

    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    image_pattern, label_pattern = lget(layout, "image_pattern", None), lget(layout, "label_pattern", None)
    mapping = dict(lget(layout, "values", None) or {})
    if not image_pattern or not label_pattern or not mapping:
        raise SourceError(f"dataset {ctx.dataset_id}: a nifti_labels layout needs 'image_pattern', "
                          f"'label_pattern' and 'values'")
    policy, fixed = _policy(ctx, {"slice_policy": lget(layout, "slice_policy", "middle"), "mask_suffix": "-"})
    try:
        axis = axis_index(lget(layout, "axis", "axial"))
    except ValueError as e:
        raise SourceError(f"dataset {ctx.dataset_id}: {e}") from None
    loc = Localiser(ctx, layout, [str(v) for v in mapping.values()])
    values = {mask_value(raw): loc.index(loc.label(name)) for raw, name in mapping.items()}
    if any(k.startswith("#") for k in values):
        raise SourceError(f"dataset {ctx.dataset_id}: label volume values are whole numbers, not colours")
    window = lget(layout, "window", None)
    percentiles = lget(layout, "percentile", None) or [0.5, 99.5]
    base: dict[str, Any] = {"source_format": "nifti", "axis": axis, "slice_policy": policy}
    if window:
        base["window"] = [float(window[0]), float(window[1])]
    else:
        base["percentiles"] = [float(percentiles[0]), float(percentiles[1])]
    pairs, skips = pair_files(ctx, root_rel, image_pattern, {"label volume": [label_pattern]})
    yield from skips
    for pair in pairs:
        try:
            label_rel = only_file(pair, "label volume")
            shape = _check_pair(ctx, pair, axis, label_rel)
            chosen = _slices(ctx, policy, fixed, shape[axis], axis, label_rel, values)
        except Bad as e:
            yield ctx.skip(pair.rel, e.reason, e.detail)
            continue
        for i in chosen:
            meta = {**base, "slice": i, "shape": list(shape), "annotation_source": label_rel}
            img = Annotated(pair.rel, split=pair.split, meta=meta, parts=(f"slice={axis}:{i}",), mask=label_rel,
                            layers=[{"kind": "nifti", "path": label_rel, "axis": axis, "slice": i, "values": values}],
                            possible=[loc.order[k - 1] for k in values.values()])
            yield from loc.finish(img)
