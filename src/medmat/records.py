"""The records that flow along medmat's one data path.

raw dataset --(source reader)--> LabeledRecord --(vqa builder)--> VQAItem

These are plain slotted dataclasses, not pydantic models: the VQA builder makes tens of
thousands per second and validation happens at the doors (readers, json import) instead.
Both serialise to plain dicts (``to_dict``/``from_dict``) and are stored as JSONL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SPLITS = ("train", "val", "test")
Box = tuple[str, float, float, float, float]
"""A localisation annotation: (label, x1, y1, x2, y2) in pixels, origin top-left."""


@dataclass(slots=True)
class LabeledRecord:
    """One image with its label(s), as a source reader yields it.

    id       deterministic key: the same raw file and labels give the same id on every run
    dataset  id of the source dataset (catalog entry) it came from
    image    path relative to the data root (POSIX separators), never absolute, never '..'
    labels   one label (single-label) or several (multi-label), canonical label names
    split    the dataset's own split ('train'/'val'/'test') or None when it has none
    group    optional patient/study id; splits never put one group on both sides
    meta     reader-specific facts (DICOM tags, slice index, MAT hints ...)
    boxes    localisation annotations: ``(label, x1, y1, x2, y2)`` in pixels of ``image``
             (origin top-left, x to the right, x2/y2 exclusive edges); the materialiser
             rescales them with the image. Empty for classification records.
    mask     a segmentation mask of ``image`` (same grid; 0 = background, k = the k-th
             label of the dataset), relative to the data root before materialisation and
             to the store after it (a PNG named by content hash). None when there is none.
    """

    id: str
    dataset: str
    image: str
    labels: tuple[str, ...]
    split: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    boxes: tuple[Box, ...] = ()
    mask: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["boxes"] = [list(b) for b in self.boxes]
        if not self.boxes:
            del d["boxes"]
        if self.mask is None:
            del d["mask"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LabeledRecord":
        return cls(
            id=d["id"], dataset=d["dataset"], image=d["image"], labels=tuple(d["labels"]),
            split=d.get("split"), group=d.get("group"), meta=dict(d.get("meta") or {}),
            boxes=tuple((str(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4])) for b in d.get("boxes") or ()),
            mask=d.get("mask"),
        )


@dataclass(slots=True)
class Skip:
    """A raw input that was not turned into a record, and why (written to skips.jsonl)."""

    source: str  # dataset id or file
    path: str  # the offending path (relative where possible)
    reason: str  # short machine-readable code: 'corrupt-image', 'unknown-label', ...
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Keys of the released Med-MAT json records, in their order.
MEDMAT_KEYS = ("id", "caption", "image", "Question", "Answer", "Question-choice", "Answer-choice", "data-no")
LETTERS = "ABCD"
CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."


@dataclass(slots=True)
class VQAItem:
    """A Med-MAT single-choice question about one image, plus medmat's metadata.

    The first block are the fields of a released Med-MAT record; ``to_medmat`` gives
    exactly those keys. ``image`` is relative to the VQA store root.
    """

    # -- Med-MAT record fields
    id: int
    caption: str
    image: str
    question: str  # "Question": the free-text instruction
    answer: str  # "Answer": the label text
    question_choice: str  # "Question-choice": instruction + options + suffix
    answer_choice: str  # "Answer-choice": the correct letter
    data_no: str  # "data-no": Med-MAT subset number or our subset id
    # -- medmat metadata
    item_id: str  # deterministic string key
    triplet: str  # "M/A/T" text form
    subset: str
    split: str
    dataset: str
    source_record: str
    options: list[str]
    answer_index: int
    labels: list[str]  # every true label of the image (multi-label images have several)
    image_hash: str = ""  # sha256 of the stored image bytes: leakage checks use it
    template: int = 0
    # -- localisation items (docs/ARCHITECTURE.md, "Localisation"); defaults = a classification item
    kind: str = "choice"  # choice | box-choice | grounding
    option_boxes: list[list[float]] = field(default_factory=list)  # box-choice: one [x1,y1,x2,y2] per option, 0-1
    answer_box: list[float] | None = None  # box-choice and grounding: the true box, [x1,y1,x2,y2] in 0-1
    image_size: list[int] | None = None  # [width, height] of the stored image, where boxes are asked about

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key, default in LOCALISATION_DEFAULTS.items():  # a classification item keeps its old bytes
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VQAItem":
        try:  # the common case, every key a field: no per-item copy (a Med-MAT-sized store has 150k items)
            return cls(**d)
        except TypeError:  # keys that are not fields (e.g. written by a newer medmat) are left out
            return cls(**{k: d[k] for k in cls.__slots__ if k in d})  # type: ignore[attr-defined]

    def to_medmat(self) -> dict[str, Any]:
        return {
            "id": self.id, "caption": self.caption, "image": self.image, "Question": self.question,
            "Answer": self.answer, "Question-choice": self.question_choice,
            "Answer-choice": self.answer_choice, "data-no": self.data_no,
        }

    @property
    def n_options(self) -> int:
        return len(self.options)


LOCALISATION_DEFAULTS: dict[str, Any] = {"kind": "choice", "option_boxes": [], "answer_box": None, "image_size": None}


def format_question_choice(question: str, options: list[str]) -> str:
    """The Med-MAT "Question-choice" text: instruction, lettered options, fixed suffix.

    Matches the released records exactly (see shared/reference/medmat-sample-record.json).
    The VQA builder, the importer and circular evaluation all use this one function.
    """
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"a question has 1..{len(LETTERS)} options, got {len(options)}")
    lines = [question] + [f"{LETTERS[i]}: {opt}" for i, opt in enumerate(options)] + [CHOICE_SUFFIX]
    return "\n".join(lines)
