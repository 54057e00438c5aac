"""What every localisation reader shares: labels, box checks, and turning one image's
annotations into its record and the skips of its bad annotations.

A reader collects, per image, an :class:`Annotated`: the good boxes (raw pixels of the
image, origin top-left, x2/y2 exclusive), the mask layers (``medmat.imaging.masks``), a
skip for every bad annotation, and how many annotations said "no finding".
:meth:`Localiser.finish` then yields the skips and at most one record:

- good boxes -> a record with them (labels: the boxes' labels; exact duplicates, as
  several readers of one image give, are kept once and counted in ``meta``);
- mask layers -> a record whose boxes and labels the materialiser finds in the mask;
- only "no finding" annotations and no bad one -> a record with the layout's
  ``empty_label`` and no box, or Skip('no-annotation') when the layout has none;
- only bad annotations -> nothing more: the image is never guessed to show no finding.

Nothing is fixed: a box is taken as written or skipped with the reason and the place.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from medmat.io import stable_hash
from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget

# Box coordinates a rounding step away from an edge (YOLO's cx +- w/2 in floats) are on it.
EDGE_TOLERANCE = 1e-6


class Bad(Exception):
    """One bad annotation (or image): a skip reason and the detail saying which and why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Annotated:
    """One image and what its annotations say (see the module doc)."""

    rel: str
    split: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    parts: tuple[str, ...] = ()
    size: tuple[int, int] = (0, 0)  # the raw grid (w, h) the annotations are checked against
    boxes: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    layers: list[dict] | None = None  # None: boxes only; a list (maybe empty): a mask source
    mask: str | None = None  # the raw file the mask comes from (or the annotation file)
    expected: list[str] = field(default_factory=list)  # labels the mask annotations name
    possible: list[str] = field(default_factory=list)  # labels a label map may hold
    empty: int = 0  # annotations that say "no finding"
    skips: list[Skip] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)


class Localiser:
    """Per reader call: label folding, the order of mask label indices, image sizes, box checks."""

    def __init__(self, ctx: ReaderContext, layout: Any, declared: Sequence[str] = ()):
        self.ctx = ctx
        raw_empty = lget(layout, "empty_label", None)
        try:
            self.empty_label = ctx.canonical_label(raw_empty) if raw_empty else None
        except KeyError as e:
            raise SourceError(f"dataset {ctx.dataset_id}: empty_label: {e.args[0]}") from None
        self.min_area = int(lget(layout, "min_area", 1))
        self.connectivity = int(lget(layout, "connectivity", 8))
        order = list(ctx.labels) if ctx.labels is not None else []
        for raw in declared:
            lab = self.label(raw) if ctx.labels is not None else raw
            if lab not in order:
                order.append(lab)
        self.order = order
        self._sizes: dict[tuple, tuple[int, int] | Bad] = {}

    # -- labels
    def label(self, raw: Any, where: str = "") -> str:
        try:
            return self.ctx.canonical_label(str(raw))
        except KeyError as e:
            raise Bad("unknown-label", f"{where}{e.args[0]}") from None

    def index(self, label: str) -> int:
        """The stored mask value of ``label`` (1-based position in the dataset's labels)."""
        if label not in self.order:
            self.order.append(label)
        k = self.order.index(label) + 1
        if k > 255:
            raise SourceError(f"dataset {self.ctx.dataset_id}: more than 255 mask labels do not fit an 8-bit mask")
        return k

    # -- geometry
    def size(self, rel: str, meta: dict[str, Any]) -> tuple[int, int]:
        """The raw grid (w, h) of an image, from its header; Bad(reason) when it cannot be read."""
        from medmat.imaging.annotations import image_size
        from medmat.imaging.convert import ImageError

        key = (rel, meta.get("source_format"), meta.get("axis"))
        if key not in self._sizes:
            try:
                self._sizes[key] = image_size(str(self.ctx.data_root / rel), meta)
            except ImageError as e:
                self._sizes[key] = Bad(e.reason, e.detail)
        got = self._sizes[key]
        if isinstance(got, Bad):
            raise got
        return got

    def box(self, label: str, coords: Sequence[Any], size: tuple[int, int], where: str
            ) -> tuple[str, float, float, float, float]:
        """A checked (label, x1, y1, x2, y2) on a (w, h) image; Bad for a box that is not one."""
        if len(coords) != 4:
            raise Bad("bad-box", f"{where}: a box has 4 coordinates, got {len(coords)}")
        try:
            x1, y1, x2, y2 = (float(c) for c in coords)
        except (TypeError, ValueError, OverflowError):
            raise Bad("bad-box", f"{where}: coordinates {list(coords)!r} are not numbers") from None
        if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            raise Bad("bad-box", f"{where}: coordinates {[x1, y1, x2, y2]} are not finite")
        if x2 < x1 or y2 < y1:
            raise Bad("bad-box", f"{where}: box {[x1, y1, x2, y2]} ends before it starts")
        if x2 == x1 or y2 == y1:
            raise Bad("zero-area-box", f"{where}: box {[x1, y1, x2, y2]} has no area")
        w, h = size
        tol = EDGE_TOLERANCE * max(w, h)
        if x1 < -tol or y1 < -tol or x2 > w + tol or y2 > h + tol:
            raise Bad("box-outside-image", f"{where}: box {[x1, y1, x2, y2]} is not inside the {w}x{h} image")
        return label, max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))

    # -- records
    def finish(self, img: Annotated) -> Iterator[LabeledRecord | Skip]:
        yield from img.skips
        if img.layers is not None and (img.layers or (img.empty and not img.skips)):
            if img.layers or self.empty_label is not None:
                yield self._mask_record(img)
            else:
                yield self.ctx.skip(img.rel, "empty-mask", "every annotation of the image is empty, and the layout "
                                                           "names no empty_label for that")
            return
        if img.boxes:
            boxes = list(dict.fromkeys(img.boxes))
            if len(boxes) < len(img.boxes):
                img.notes["duplicate_boxes"] += len(img.boxes) - len(boxes)
            if img.empty:
                img.notes["no_finding_annotations"] += img.empty
            labels = tuple(dict.fromkeys(b[0] for b in boxes))
            yield self._record(img, labels, tuple(boxes))
        elif img.empty and not img.skips:
            if self.empty_label is None:
                yield self.ctx.skip(img.rel, "no-annotation", "the image's annotations say no finding, and the "
                                                              "layout names no empty_label for that")
            else:
                yield self._record(img, (self.empty_label,), ())
        elif not img.skips:
            yield self.ctx.skip(img.rel, "no-annotation", "no annotation for this image")

    def _record(self, img: Annotated, labels: tuple[str, ...], boxes: tuple, **extra: Any) -> LabeledRecord:
        meta = {**img.meta, **{k: int(v) for k, v in sorted(img.notes.items()) if v}}
        return LabeledRecord(id=f"{self.ctx.dataset_id}:{stable_hash(img.rel, 'localisation', *img.parts)}",
                             dataset=self.ctx.dataset_id, image=img.rel, labels=labels, split=img.split,
                             group=img.group, meta=meta, boxes=boxes, **extra)

    def _mask_record(self, img: Annotated) -> LabeledRecord:
        expected = list(dict.fromkeys(img.expected))
        spec = {"layers": img.layers, "labels": list(self.order), "derive_boxes": True, "min_area": self.min_area,
                "connectivity": self.connectivity, "empty_label": self.empty_label, "expected": expected}
        provisional = expected or list(dict.fromkeys(img.possible)) or ([self.empty_label] if self.empty_label else [])
        rec = self._record(img, tuple(provisional), (), mask=img.mask)
        rec.meta["mask_spec"] = spec
        return rec


def skip_all(ctx: ReaderContext, rel: str, reason: str, detail: str, n: int = 1) -> list[Skip]:
    """``n`` skips of one image (one per annotation of an image that cannot be used)."""
    return [ctx.skip(rel, reason, detail) for _ in range(max(1, n))]
