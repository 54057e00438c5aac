"""Typed catalog entries: source datasets, MAT subsets and raw download layouts.

The catalog is data (YAML); these models are the door it passes through. They are strict
(``extra='forbid'``) so that a typo in a user catalog (``lable_column``) is an error, not a
silently ignored key. Modality/area/task go through the MAT vocabulary passed in the
validation context (``{"vocab": Vocabulary}``) so two spellings never become two elements
of a compositional-generalization study.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from medmat.mat import Triplet, Vocabulary, default_vocabulary

Status = Literal["released", "todo"]
Kind = Literal["classification", "detection", "segmentation"]
_FLAG = re.compile(r"^[a-z0-9][a-z0-9-]*: \S")
_DEFAULT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- layouts
class _TableFields(_Strict):
    """Fields shared by every layout whose labels come from a csv/tsv table.

    ``label_column`` holds one label per row, or several joined by ``label_delimiter``
    (NIH ``Finding Labels``: ``"Effusion|Mass"``); ``label_columns`` is a one-hot block
    (ISIC 2019, ODIR) where every column with a truthy value is a label named by its column.
    """

    table: str | None = None
    image_column: str = "image"
    label_column: str | None = None
    label_columns: list[str] | None = None
    label_delimiter: str | None = None
    split_column: str | None = None
    group_column: str | None = None
    image_dir: str = ""
    image_suffix: str = ""
    empty_label: str | None = Field(None, description="label of a one-hot row with no positive column ('No Finding')")
    delimiter: str | None = Field(None, description="csv field delimiter; default: sniffed / by extension")

    def _check_table(self, required: bool) -> None:
        if required and not self.table:
            raise ValueError("a label table is needed: set 'table' (csv/tsv path)")
        if not self.table:
            return
        if (self.label_column is None) == (self.label_columns is None):
            raise ValueError("set exactly one of 'label_column' or 'label_columns'")
        if self.label_columns is not None and not self.label_columns:
            raise ValueError("'label_columns' must list at least one column")
        if self.label_delimiter is not None and self.label_column is None:
            raise ValueError("'label_delimiter' only applies with 'label_column'")


class ClassFoldersLayout(_Strict):
    """One folder per label (``root/<label>/*.png``), optionally inside split folders
    (``root/train/<label>/...``; ``split_dirs`` maps our split name to the folder name)."""

    type: Literal["class_folders"] = "class_folders"
    root: str = "."
    split_dirs: dict[str, str] = Field(default_factory=dict)
    extensions: list[str] = Field(default_factory=lambda: list(_DEFAULT_EXTENSIONS))

    @field_validator("split_dirs")
    @classmethod
    def _splits(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(v) - {"train", "val", "test"})
        if bad:
            raise ValueError(f"split names must be train/val/test, got {bad}")
        return v

    @field_validator("extensions")
    @classmethod
    def _exts(cls, v: list[str]) -> list[str]:
        return [e.lower() if e.startswith(".") else "." + e.lower() for e in v]


class LabelTableLayout(_TableFields):
    """Images in a folder, labels in a csv/tsv table (APTOS ``train.csv``, NIH ``Data_Entry``)."""

    type: Literal["label_table"] = "label_table"
    root: str = "."

    @model_validator(mode="after")
    def _check(self) -> "LabelTableLayout":
        self._check_table(required=True)
        return self


class DicomLayout(_TableFields):
    """DICOM files; labels from the parent folder name or a table keyed by file/study.

    ``frame_policy`` picks frames of multi-frame objects; ``window`` is (center, width) in
    stored units, or None to use the file's own VOI window / min-max.
    """

    type: Literal["dicom"] = "dicom"
    root: str = "."
    label_from: Literal["folder", "table"] = "folder"
    frame_policy: Literal["first", "middle", "all", "mip"] = "middle"
    window: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> "DicomLayout":
        self._check_table(required=self.label_from == "table")
        return self


class NiftiLayout(_TableFields):
    """NIfTI volumes sliced to 2-D images along ``axis``.

    ``window`` (center, width) for CT in HU, else ``percentile`` (low, high) clipping (MRI).
    Setting ``window`` switches the percentile default off; setting both is an error.
    """

    type: Literal["nifti"] = "nifti"
    root: str = "."
    label_from: Literal["folder", "table"] = "folder"
    slice_policy: str = Field("middle", description="'middle' | 'all' | 'max_area' (needs mask_suffix) | 'index:N'")
    mask_suffix: str | None = Field(None, description="mask file of a volume: <stem><mask_suffix>, for max_area")
    axis: Literal[0, 1, 2] = 2
    window: tuple[float, float] | None = None
    percentile: tuple[float, float] | None = (0.5, 99.5)

    @model_validator(mode="before")
    @classmethod
    def _window_or_percentile(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("window") is not None:
            if data.get("percentile") is not None:
                raise ValueError("set 'window' (CT) or 'percentile' (MRI), not both")
            data = {**data, "percentile": None}
        return data

    @field_validator("slice_policy")
    @classmethod
    def _slice_policy(cls, v: str) -> str:
        v = v.replace("max-area", "max_area")
        if v in ("middle", "all", "max_area"):
            return v
        if v.startswith("index:") and v[6:].lstrip("-").isdigit():
            return v
        raise ValueError(f"slice_policy must be middle, all, max_area or index:N, got {v!r}")

    @model_validator(mode="after")
    def _check(self) -> "NiftiLayout":
        self._check_table(required=self.label_from == "table")
        if self.slice_policy == "max_area" and not self.mask_suffix:
            raise ValueError("slice_policy 'max_area' needs 'mask_suffix'")
        if self.percentile is not None:
            lo, hi = self.percentile
            if not 0 <= lo < hi <= 100:
                raise ValueError(f"percentile must satisfy 0 <= low < high <= 100, got {self.percentile}")
        return self


class MedmatJsonLayout(_Strict):
    """A released Med-MAT QA json (``file``) whose ``image`` paths resolve under ``image_root``."""

    type: Literal["medmat_json"] = "medmat_json"
    file: str
    image_root: str = "."
    split: Literal["train", "val", "test"] | None = None


Layout = Annotated[
    Union[ClassFoldersLayout, LabelTableLayout, DicomLayout, NiftiLayout, MedmatJsonLayout],
    Field(discriminator="type"),
]
LAYOUT_TYPES = ("class_folders", "label_table", "dicom", "nifti", "medmat_json")


# --------------------------------------------------------------------------- entries
def _vocab(info: ValidationInfo) -> Vocabulary:
    ctx = info.context or {}
    return ctx.get("vocab") or default_vocabulary()


class _MatEntry(_Strict):
    """Shared by datasets and subsets: a normalised MAT triplet, kind, status, flags."""

    modality: str
    area: str
    task: str
    kind: Kind = "classification"
    status: Status = "released"
    multi_label: bool = False
    flags: list[str] = Field(default_factory=list)
    notes: str | None = None
    override: bool = False

    @model_validator(mode="before")
    @classmethod
    def _split_triplet(cls, data: Any) -> Any:
        """Accept ``triplet: "M/A/T"`` (or a Triplet) as a shorthand for the three fields."""
        if isinstance(data, dict) and isinstance(data.get("triplet"), (str, Triplet)):
            data = dict(data)
            parts = str(data.pop("triplet")).split("/", 2)
            if len(parts) != 3:
                raise ValueError("triplet is written 'Modality/Area/Task'")
            for key, value in zip(("modality", "area", "task"), parts):
                data.setdefault(key, value.strip())
        return data

    @field_validator("modality", "area", "task")
    @classmethod
    def _normalise(cls, v: str, info: ValidationInfo) -> str:
        return _vocab(info).normalize(info.field_name, v)  # type: ignore[arg-type]

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: list[str]) -> list[str]:
        for flag in v:
            if not _FLAG.match(flag):
                raise ValueError(f"a flag is 'code: message' with a lower-case-dashed code, got {flag!r}")
        return v

    @property
    def triplet(self) -> Triplet:
        return Triplet(self.modality, self.area, self.task)

    @property
    def flag_codes(self) -> list[str]:
        return [f.split(":", 1)[0] for f in self.flags]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the triplet as its ``"M/A/T"`` text."""
        d = self.model_dump(mode="json")
        head = {k: d.pop(k) for k in ("id", "name") if k in d}
        return {**head, "triplet": str(self.triplet), **d}


def _id(v: Any, what: str) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        raise ValueError(f"{what} ids are text: write '{v:02d}' in quotes (YAML reads 02 as the number 2)")
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"{what} id must be a non-empty string")
    if "/" in v:
        raise ValueError(f"{what} id may not contain '/': {v!r}")
    return v.strip()


class TableRow(_Strict):
    """The row of the public Med-MAT dataset table an entry came from, spelled as published."""

    row: int | None = None
    modality: str
    area: str
    task: str


class DatasetEntry(_MatEntry):
    """One source dataset: where it comes from, what MAT subset it feeds, how it is laid out.

    ``labels`` are canonical label names (None where unknown); ``label_aliases`` maps a raw
    folder/column value to one of them (``"CT_COVID" -> "COVID"``).
    """

    id: str
    name: str
    subset: str
    subset_rationale: str | None = None
    labels: list[str] | None = None
    label_aliases: dict[str, str] = Field(default_factory=dict)
    layout: Layout | None = None
    source_url: str | None = None
    access: str | None = None
    licence: str = "see source"
    qa_file_no: str | None = None
    table: TableRow | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _idv(cls, v: Any) -> str:
        s = _id(v, "dataset")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", s):
            raise ValueError(f"dataset id must be a lower-case slug (a-z, 0-9, '-', '_', '.'), got {s!r}")
        return s

    @field_validator("subset", mode="before")
    @classmethod
    def _subsetv(cls, v: Any) -> str:
        return _id(v, "subset")

    @field_validator("qa_file_no", mode="before")
    @classmethod
    def _qa(cls, v: Any) -> Any:
        return f"{v:02d}" if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v or any(not str(x).strip() for x in v):
            raise ValueError("labels must be a non-empty list of non-empty names (or null when unknown)")
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate labels {dup}")
        return v

    @model_validator(mode="after")
    def _aliases(self) -> "DatasetEntry":
        if self.labels is not None:
            bad = sorted({t for t in self.label_aliases.values() if t not in self.labels})
            if bad:
                raise ValueError(f"label_aliases map to {bad}, which are not in labels {self.labels}")
        return self


class SubsetEntry(_MatEntry):
    """A Med-MAT subset: every source dataset sharing one triplet, merged.

    ``labels`` is the union over its datasets (plus any declared here); ``datasets`` is
    filled by the loader. ``templates`` are free-text instructions without options.
    """

    id: str
    labels: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    templates: list[str] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _idv(cls, v: Any) -> str:
        return _id(v, "subset")

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        cleaned = [" ".join(str(t).split()) for t in v]
        if any(not t for t in cleaned):
            raise ValueError("templates may not be empty")
        seen: set[str] = set()
        for t in cleaned:
            if t.casefold() in seen:
                raise ValueError(f"duplicate template {t!r}")
            seen.add(t.casefold())
        return cleaned
