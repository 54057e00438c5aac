"""The materialiser's side of annotated records: what a worker is asked, what the cache
keeps, and how the finished record gets its boxes, labels and stored mask.

A record is *annotated* when it has boxes or a mask spec (``meta['mask_spec']``, see
``medmat.imaging.masks``). Its worker task carries the spec; its result adds the raw grid
size, the EXIF orientation applied and the mask result to the image's; its cache entry
keeps those too (9 fields instead of 5), so a resumed build needs no decoding.
"""

from __future__ import annotations

import os
from hashlib import sha256
from typing import Any

from medmat.imaging.annotations import stored_boxes
from medmat.imaging.masks import mask_relpath, spec_files
from medmat.io import dumps
from medmat.records import LabeledRecord, Skip


def annotation_task(rec: Any, data_root: Any) -> tuple[str, str]:
    """(the worker's annotation json, the cache-key suffix) of a record; ('', '') when it has
    neither boxes nor a mask spec. The key holds the spec and the size and time of every
    mask file, so a changed mask is decoded again."""
    spec = rec.meta.get("mask_spec")
    if not rec.boxes and not spec:
        return "", ""
    stats = []
    for rel in spec_files(spec or {}):
        try:
            st = os.stat(os.path.join(str(data_root), rel))
            stats.append([rel, st.st_size, st.st_mtime_ns])
        except OSError:
            stats.append([rel, -1, -1])
    task = dumps({"mask": spec or None, "data_root": str(data_root)})
    return task, "\x1fannotated\x1f" + sha256(dumps({"mask": spec or None, "files": stats}).encode()).hexdigest()


def cached_entry_usable(hit: list, store_root: Any, annotated: bool) -> bool:
    """Whether a cache entry's stored image (and, annotated, its mask) is still there whole.
    Plain entries are [digest, ext, w, h, nbytes]; annotated ones add [raw w, raw h,
    orientation, mask result or None]."""
    def whole(rel: str, nbytes: Any) -> bool:
        try:
            return os.stat(os.path.join(str(store_root), rel)).st_size == nbytes
        except OSError:
            return False

    if not isinstance(hit, list) or len(hit) != (9 if annotated else 5):
        return False
    if not whole(f"images/{hit[0][:2]}/{hit[0]}.{hit[1]}", hit[4]):
        return False
    mask = hit[8] if annotated else None
    return mask is None or (isinstance(mask, list) and len(mask) == 5 and whole(mask_relpath(mask[0]), mask[1]))


def finish_annotated(rec: Any, extra: tuple | list, rel: str) -> Any:
    """The materialised record with its boxes on the stored image and its stored mask, or the
    Skip saying why its mask cannot be used (see docs/localisation.md, "Readers")."""
    src_w, src_h, orientation, mask = extra
    stored = (int(rec.meta["width"]), int(rec.meta["height"]))
    source = (int(src_w), int(src_h))
    meta = dict(rec.meta)
    spec = meta.pop("mask_spec", None)
    boxes = list(rec.boxes)
    labels = tuple(rec.labels)
    mask_path = None
    if spec is not None and mask is not None:
        digest, _, comps, present, small = mask
        names = list(spec["labels"])
        present_labels = [names[k - 1] for k in present]
        empty = spec.get("empty_label")
        if spec.get("derive_boxes", True):
            if empty is not None and empty in present_labels:
                return Skip(rec.dataset, rel, "mask-on-no-finding",
                            f"the mask marks pixels as {empty!r}, the dataset's no-finding label")
            boxes += [(names[k - 1], float(x1), float(y1), float(x2), float(y2)) for k, x1, y1, x2, y2 in comps]
            if present_labels:
                labels = tuple(present_labels)
            elif empty is not None and set(spec.get("expected") or ()) <= {empty}:
                labels = (empty,)
            else:
                expected = ", ".join(spec.get("expected") or ()) or "a labelled region"
                return Skip(rec.dataset, rel, "empty-mask", f"the mask has no foreground, the annotation "
                                                           f"names {expected}")
            boxed = {b[0] for b in boxes}
            unboxed = [lab for lab in present_labels if lab not in boxed]
            if unboxed:
                meta["unboxed_labels"] = unboxed
            if small:
                meta["small_components"] = int(small)
        meta["mask_labels"] = names
        if rec.mask:
            meta["mask_source"] = rec.mask
        mask_path = mask_relpath(digest)
    meta["source_size"] = [source[0], source[1]]
    if orientation != 1:
        meta["orientation"] = int(orientation)
    return LabeledRecord(id=rec.id, dataset=rec.dataset, image=rec.image, labels=labels, split=rec.split,
                         group=rec.group, meta=meta, boxes=stored_boxes(boxes, source, orientation, stored),
                         mask=mask_path)
