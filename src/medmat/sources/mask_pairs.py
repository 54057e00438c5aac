"""Reader for image/mask folder pairs: each image's mask files found by name pattern.

    image_pattern: "{split}/images/{id}.jpg"
    masks:
      - {pattern: "{split}/masks/{id}.png", label: Polyp}          # binary: foreground -> Polyp
      - {pattern: "gt/{id}_{cls}.png", label: "{cls}"}             # the label from a placeholder
      - {pattern: "labels/{id}.png", values: {1: Liver, 2: Tumour}} # a label map (or '#rrggbb' keys)

A binary mask's foreground is every pixel whose largest channel is >= ``threshold``
(default 128 for lossy JPEG masks, which must be thresholded, else 1), or < it with
``invert`` (masks drawn black on white). Several mask files of one image (one per class,
or BUSI's ``_mask`` and ``_mask_1``) are layers of one mask: boxes are found per layer,
the stored mask paints them in order. The reader checks every mask's size from its
header (Skip('mask-size-mismatch') for the image otherwise); pixels are decoded when the
image is materialised, where the boxes are found (see ``medmat.imaging.masks``). A mask
file without an image is Skip('missing-image'); an image without any mask file
Skip('missing-annotation').
"""

from __future__ import annotations

from typing import Any, Iterator

from medmat.records import LabeledRecord, Skip
from medmat.sources._common import ReaderContext, SourceError, lget
from medmat.sources._localise import Annotated, Bad, Localiser
from medmat.sources._patterns import Pair, layout_root, pair_files, pattern_names

LOSSY = (".jpg", ".jpeg")


def layer_label(template: str, values: dict[str, str]) -> str:
    """A mask label written as text, with ``{placeholder}`` parts filled from the file's pattern."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise SourceError(f"mask label {template!r} names a placeholder the patterns do not have: {e}") from None


def mask_value(raw: Any) -> str:
    """A label-map key as the mask decoder reads it: '7' (a grey or palette value) or '#rrggbb'."""
    text = str(raw).strip()
    try:
        return f"#{int(text[1:], 16):06x}" if text.startswith("#") else str(int(text))
    except ValueError:
        raise SourceError(f"mask value {raw!r} is neither a whole number nor a '#rrggbb' colour") from None


def _masks(ctx: ReaderContext, layout: Any) -> list[Any]:
    masks = list(lget(layout, "masks", None) or [])
    if not masks:
        raise SourceError(f"dataset {ctx.dataset_id}: a mask_pairs layout needs at least one entry in 'masks'")
    return masks


def _declared(masks: list[Any]) -> list[str]:
    names: list[str] = []
    for m in masks:
        label = lget(m, "label", None)
        if label and not pattern_names(label):
            names.append(label)
        names += [str(v) for v in (lget(m, "values", None) or {}).values()]
    return names


def mask_layer(loc: Localiser, m: Any, path: str, values: dict[str, str], where: str) -> tuple[dict, str | None]:
    """The layer of one mask file and the label it names (None for a label map)."""
    mapping = lget(m, "values", None)
    if mapping:
        table = {}
        for raw, name in mapping.items():
            table[mask_value(raw)] = loc.index(loc.label(name, where))
        return {"kind": "raster", "path": path, "values": table}, None
    label = loc.label(layer_label(str(lget(m, "label")), values), where)
    threshold = lget(m, "threshold", None)
    if threshold is None:
        threshold = 128 if path.lower().endswith(LOSSY) else 1
    return {"kind": "raster", "path": path, "label": loc.index(label), "threshold": int(threshold),
            "invert": bool(lget(m, "invert", False))}, label


def _annotate(ctx: ReaderContext, loc: Localiser, masks: list[Any], pair: Pair) -> Annotated:
    img = Annotated(pair.rel, split=pair.split, meta={}, layers=[])
    img.size = loc.size(pair.rel, img.meta)
    for i, m in enumerate(masks):
        for path in pair.files.get(f"masks[{i}]", []):
            try:
                got = loc.size(path, {})
            except Bad as e:
                raise Bad("corrupt-mask", f"mask {path}: {e.detail}") from None
            if got != img.size:
                raise Bad("mask-size-mismatch", f"mask {path} is {got[0]}x{got[1]}, the image "
                                                f"{img.size[0]}x{img.size[1]}")
            layer, label = mask_layer(loc, m, path, pair.values, f"mask {path}: ")
            img.layers.append(layer)  # type: ignore[union-attr]
            if label is None:
                img.possible += [loc.order[k - 1] for k in layer["values"].values()]
            else:
                img.expected.append(label)
            img.mask = img.mask or path
    if not img.layers:
        raise Bad("missing-annotation", f"no mask file matches {[lget(m, 'pattern') for m in masks]} for this image")
    return img


def read_mask_pairs(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    masks = _masks(ctx, layout)
    root_rel = layout_root(ctx, lget(layout, "root", ".") or ".")
    image_pattern = lget(layout, "image_pattern", None)
    if not image_pattern:
        raise SourceError(f"dataset {ctx.dataset_id}: a mask_pairs layout needs an 'image_pattern'")
    loc = Localiser(ctx, layout, _declared(masks))
    pairs, skips = pair_files(ctx, root_rel, image_pattern,
                              {f"masks[{i}]": [str(lget(m, "pattern"))] for i, m in enumerate(masks)})
    yield from skips
    for pair in pairs:
        try:
            img = _annotate(ctx, loc, masks, pair)
        except Bad as e:
            yield ctx.skip(pair.rel, e.reason, e.detail)
            continue
        yield from loc.finish(img)
