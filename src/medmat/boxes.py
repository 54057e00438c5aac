"""Boxes: geometry, the texts a box is written as, and the parser that reads one back.

One box convention is medmat's own (docs/localisation.md): ``[x1, y1, x2, y2]`` with integer
coordinates scaled to 0-1000 by the image's width and height, origin top-left. Items keep
boxes as 0-1 floats (``VQAItem.option_boxes``/``answer_box``, exactly the integers / 1000),
so the text and the floats always agree.

Model families that learned their own box syntax are answered in it (``BOX_SYNTAXES``,
named by ``medmat.models.hf.families.Family.box_syntax``):

* ``plain``       ``[x1, y1, x2, y2]``, 0-1000 integers (medmat's form, any model);
* ``qwen2-vl``    ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``,
                  0-1000 integers;
* ``qwen2.5-vl``  ``{"bbox_2d": [x1, y1, x2, y2], "label": "..."}`` in absolute pixels of
                  the image as the processor resizes it (:func:`resized_size`).

``parse_box`` is a small pure function like ``medmat.answers.parse_answer``: it reads any
of those forms (and a bare list, two points, ``x1=..`` pairs), but the *numbers* are read
in the convention the prompt asked for (``norm1000``, ``norm1`` or ``pixels`` of a frame
whose size is given). An answer it cannot justify is INVALID with a reason (``how``); it
never guesses a scale. Its table of cases is tests/test_boxes_parser.py.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from medmat.registry import Registry

Box4 = tuple[float, float, float, float]
IntBox = tuple[int, int, int, int]
SCALE = 1000
IOU_THRESHOLD = 0.5
"""A predicted box counts as correct at IoU >= this (Acc@0.5)."""
Convention = Literal["norm1000", "norm1", "pixels"]
CONVENTIONS: tuple[str, ...] = ("norm1000", "norm1", "pixels")


# --------------------------------------------------------------------------- geometry
def area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 for empty or disjoint boxes)."""
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def hits(overlap: float, threshold: float = IOU_THRESHOLD) -> bool:
    """Whether an IoU reaches ``threshold``; a float a rounding error below (exactly half a
    box computed as 0.4999999999999999) counts as reaching it."""
    return overlap >= threshold - 1e-9


def to_unit(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Box4:
    """A pixel box of a ``width`` x ``height`` image as 0-1 floats (clipped to the image)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    c = lambda v, n: min(1.0, max(0.0, v / n))  # noqa: E731
    return (c(x1, width), c(y1, height), c(x2, width), c(y2, height))


def quantise(box: Sequence[float]) -> IntBox:
    """0-1 floats -> medmat's 0-1000 integers (round half to even, as ``round`` does)."""
    return tuple(int(round(v * SCALE)) for v in box)  # type: ignore[return-value]


def unit(q: Sequence[int]) -> Box4:
    """0-1000 integers -> the 0-1 floats items store (exactly q / 1000)."""
    return tuple(v / SCALE for v in q)  # type: ignore[return-value]


def box_text(q: Sequence[int]) -> str:
    """medmat's box text: ``[x1, y1, x2, y2]`` of 0-1000 integers."""
    return "[" + ", ".join(str(int(v)) for v in q) + "]"


def resized_size(width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 28 * 28 * 1280) -> tuple[int, int]:
    """(width, height) of an image as Qwen2-VL/Qwen2.5-VL processors resize it: each side a
    multiple of ``factor``, the pixel count within [min_pixels, max_pixels], the aspect
    ratio kept as well as those allow (the processors' ``smart_resize``)."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


# --------------------------------------------------------------------------- syntaxes
@dataclass(frozen=True)
class BoxSyntax:
    """How one model family writes a box. ``convention`` says what its numbers mean;
    ``instruction`` is the sentence a prompt adds to ask for it; ``render(values, label)``
    writes a box whose numbers are already in that convention."""

    name: str
    convention: Convention
    instruction: str
    render: Callable[[Sequence[float], str], str]


BOX_SYNTAXES: Registry[BoxSyntax] = Registry("box syntax")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


BOX_SYNTAXES.add("plain", BoxSyntax(
    "plain", "norm1000",
    "Answer with the bounding box as [x1, y1, x2, y2]: the top-left and bottom-right corners, "
    "each coordinate scaled from 0 to 1000 across the image's width or height.",
    lambda v, label: "[" + ", ".join(_num(x) for x in v) + "]"))
BOX_SYNTAXES.add("qwen2-vl", BoxSyntax(
    "qwen2-vl", "norm1000", "Give its bounding box.",
    lambda v, label: (f"<|object_ref_start|>{label}<|object_ref_end|>" if label else "")
    + f"<|box_start|>({_num(v[0])},{_num(v[1])}),({_num(v[2])},{_num(v[3])})<|box_end|>"))
BOX_SYNTAXES.add("qwen2.5-vl", BoxSyntax(
    "qwen2.5-vl", "pixels", "Give its bounding box in JSON, in pixel coordinates.",
    lambda v, label: json.dumps({"bbox_2d": [int(round(x)) for x in v], "label": label}, ensure_ascii=False)))


def frame_values(box: Sequence[float], convention: str, frame: tuple[int, int] | None = None) -> tuple[float, ...]:
    """A 0-1 box in the numbers of ``convention`` (``frame`` = (width, height) for pixels)."""
    if convention == "norm1000":
        return tuple(float(v) for v in quantise(box))
    if convention == "norm1":
        return tuple(float(v) for v in box)
    if convention == "pixels":
        if frame is None:
            raise ValueError("pixel coordinates need the frame size (width, height)")
        w, h = frame
        return (float(round(box[0] * w)), float(round(box[1] * h)), float(round(box[2] * w)), float(round(box[3] * h)))
    raise ValueError(f"unknown box convention {convention!r} (known: {', '.join(CONVENTIONS)})")


def render_box(syntax: str, box: Sequence[float], label: str = "", frame: tuple[int, int] | None = None) -> str:
    """The 0-1 ``box`` written in ``syntax`` (``frame``: the pixel frame of pixel syntaxes)."""
    s = BOX_SYNTAXES.get(syntax)
    return s.render(frame_values(box, s.convention, frame), label)


def answer_frame(image_size: Sequence[int] | None, resize: Sequence[int] | None = None) -> tuple[int, int] | None:
    """The pixel frame a model's pixel coordinates refer to: the stored image's size, or the
    size its processor resizes it to when ``resize`` = (factor, min_pixels, max_pixels)."""
    if image_size is None:
        return None
    w, h = int(image_size[0]), int(image_size[1])
    return resized_size(w, h, *resize) if resize else (w, h)


# --------------------------------------------------------------------------- parser
ValidBoxHow = Literal["qwen2-vl", "json", "list", "points", "named"]
VALID_BOX_HOWS: tuple[str, ...] = ("qwen2-vl", "json", "list", "points", "named")
INVALID_BOX_HOWS: tuple[str, ...] = (
    "empty", "refusal", "multiple", "bad-arity", "out-of-range", "wrong-scale", "degenerate", "unparsed",
)

_N = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))"
_SEP = r"\s*[,;]\s*|\s+"
_FORMS: list[tuple[str, re.Pattern]] = [
    ("qwen2-vl", re.compile(rf"<\|box_start\|>\s*\(\s*{_N}\s*,\s*{_N}\s*\)\s*,?\s*\(\s*{_N}\s*,\s*{_N}\s*\)\s*<\|box_end\|>")),
    ("json", re.compile(rf"[\"']?(?:bbox_2d|bbox|box)[\"']?\s*[:=]\s*\[\s*{_N}(?:{_SEP}){_N}(?:{_SEP}){_N}(?:{_SEP}){_N}\s*\]",
                        re.IGNORECASE)),
    ("list", re.compile(rf"[\[(]\s*{_N}(?:{_SEP}){_N}(?:{_SEP}){_N}(?:{_SEP}){_N}\s*[\])]")),
    ("points", re.compile(rf"\(\s*{_N}\s*,\s*{_N}\s*\)\s*(?:,|-|to|and)?\s*\(\s*{_N}\s*,\s*{_N}\s*\)", re.IGNORECASE)),
]
_NAMED = re.compile(r"\b(x1|y1|x2|y2|x_?min|y_?min|x_?max|y_?max)\b\s*[:=]\s*" + _N, re.IGNORECASE)
_NAMED_SLOT = {"x1": 0, "xmin": 0, "x_min": 0, "y1": 1, "ymin": 1, "y_min": 1,
               "x2": 2, "xmax": 2, "x_max": 2, "y2": 3, "ymax": 3, "y_max": 3}
_ANY_LIST = re.compile(rf"[\[(]\s*{_N}(?:(?:{_SEP}){_N})*\s*[\])]")
_REFUSAL = re.compile(r"\b(cannot|can ?not|can't|unable|sorry|not sure|unsure|no (?:visible )?\w+ (?:is )?(?:visible|present|seen)|"
                      r"don't know|do not know|not possible|as an ai)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedBox:
    """The parser's verdict: a 0-1 box (None for INVALID) and how it was reached."""

    box: Box4 | None
    how: str

    @property
    def valid(self) -> bool:
        return self.box is not None


def _find(text: str) -> tuple[list[tuple[str, tuple[float, ...]]], str]:
    """Every box written in ``text`` (form, four numbers), and the text with them blanked out."""
    found: list[tuple[int, str, tuple[float, ...]]] = []
    for form, pattern in _FORMS:
        for m in pattern.finditer(text):
            found.append((m.start(), form, tuple(float(g) for g in m.groups())))
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    slots: dict[int, float] = {}
    named = list(_NAMED.finditer(text))
    for m in named:
        slots.setdefault(_NAMED_SLOT[m.group(1).lower()], float(m.group(2)))
    if len(slots) == 4:
        found.append((named[0].start(), "named", tuple(slots[i] for i in range(4))))
    return [(f, v) for _, f, v in sorted(found, key=lambda t: t[0])], text


def _scaled(v: tuple[float, ...], convention: str, frame: tuple[int, int] | None) -> Box4 | str:
    """Four numbers -> a 0-1 box, or the reason they do not fit the convention."""
    if any(x < 0 for x in v):
        return "out-of-range"
    fractional = all(x <= 1 for x in v) and any(not x.is_integer() for x in v)
    if convention == "norm1":
        if any(x > 1 for x in v):
            return "wrong-scale" if all(x <= SCALE for x in v) else "out-of-range"
        return (v[0], v[1], v[2], v[3])
    if fractional:  # 0-1 floats where integers of another scale were asked for
        return "wrong-scale"
    if convention == "norm1000":
        w = h = float(SCALE)
    elif convention == "pixels":
        if frame is None:
            raise ValueError("parse_box: pixel coordinates need the frame size (width, height)")
        w, h = float(frame[0]), float(frame[1])
    else:
        raise ValueError(f"unknown box convention {convention!r} (known: {', '.join(CONVENTIONS)})")
    if v[0] > w or v[2] > w or v[1] > h or v[3] > h:
        return "out-of-range"
    return (v[0] / w, v[1] / h, v[2] / w, v[3] / h)


def parse_box(text: str | None, convention: str = "norm1000", frame: tuple[int, int] | None = None) -> ParsedBox:
    """Read one box out of a generated answer, in the ``convention`` the prompt asked for.

    ``frame`` is the (width, height) pixel coordinates refer to (needed for ``pixels``).
    Several boxes are INVALID (``multiple``) unless they are the same box written twice.
    """
    if text is None or not str(text).strip():
        return ParsedBox(None, "empty")
    t = str(text).replace("**", "").replace("`", "")
    found, rest = _find(t)
    if not found:
        if _ANY_LIST.search(rest):
            return ParsedBox(None, "bad-arity")
        return ParsedBox(None, "refusal" if _REFUSAL.search(t) else "unparsed")
    boxes: list[Box4] = []
    how = found[0][0]
    for _, values in found:
        got = _scaled(values, convention, frame)
        if isinstance(got, str):
            return ParsedBox(None, got)
        if not any(all(abs(a - b) < 1e-9 for a, b in zip(got, seen)) for seen in boxes):
            boxes.append(got)
    if len(boxes) > 1:
        return ParsedBox(None, "multiple")
    box = boxes[0]
    if box[2] <= box[0] or box[3] <= box[1]:
        return ParsedBox(None, "degenerate")
    return ParsedBox(box, how)
