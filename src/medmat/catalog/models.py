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
from medmat.mat.vocab import fold

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


class _SliceFields(_Strict):
    """How a NIfTI volume becomes 2-D slices (shared by ``nifti`` and ``nifti_labels``).

    ``window`` (center, width) for CT in HU, else ``percentile`` (low, high) clipping (MRI).
    Setting ``window`` switches the percentile default off; setting both is an error.
    """

    slice_policy: str = Field("middle", description="'middle' | 'all' | 'max_area' | 'index:N'")
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
    def _percentile_range(self) -> "_SliceFields":
        if self.percentile is not None:
            lo, hi = self.percentile
            if not 0 <= lo < hi <= 100:
                raise ValueError(f"percentile must satisfy 0 <= low < high <= 100, got {self.percentile}")
        return self


class NiftiLayout(_TableFields, _SliceFields):
    """NIfTI volumes sliced to 2-D images along ``axis`` (``max_area`` needs ``mask_suffix``)."""

    type: Literal["nifti"] = "nifti"
    root: str = "."
    label_from: Literal["folder", "table"] = "folder"
    mask_suffix: str | None = Field(None, description="mask file of a volume: <stem><mask_suffix>, for max_area")

    @model_validator(mode="after")
    def _check(self) -> "NiftiLayout":
        self._check_table(required=self.label_from == "table")
        if self.slice_policy == "max_area" and not self.mask_suffix:
            raise ValueError("slice_policy 'max_area' needs 'mask_suffix'")
        return self


class MedmatJsonLayout(_Strict):
    """A released Med-MAT QA json (``file``) whose ``image`` paths resolve under ``image_root``."""

    type: Literal["medmat_json"] = "medmat_json"
    file: str
    image_root: str = "."
    split: Literal["train", "val", "test"] | None = None


# --------------------------------------------------------------------------- localisation layouts
_PATTERN_PART = re.compile(r"^(?:[^{}\\]|\{[A-Za-z_][A-Za-z0-9_]*\})+$")
_PLACEHOLDERS = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _pattern(v: str | None) -> str | None:
    """A file pattern: a relative POSIX path whose parts may hold {name} placeholders, * and ?."""
    if v is None:
        return v
    parts = v.split("/")
    if v.startswith("/") or any(p in ("", ".", "..") or not _PATTERN_PART.match(p) for p in parts):
        raise ValueError(f"{v!r} is not a file pattern: a relative path with {{name}} placeholders, * and ?")
    return v


class _Localisation(_Strict):
    """Fields of every layout whose records carry boxes or masks (docs/localisation.md)."""

    root: str = "."
    empty_label: str | None = Field(None, description="label of an image whose annotations say 'no finding' "
                                                      "(and stored without a box); without it such an image is a skip")

    def label_names(self) -> list[str]:
        """Labels the layout itself names (checked against the entry's labels)."""
        return [self.empty_label] if self.empty_label else []


class _MaskFields(_Localisation):
    min_area: int = Field(16, ge=1, description="smallest connected mask region, in raw pixels, that becomes a box")
    connectivity: Literal[4, 8] = Field(8, description="pixel neighbourhood of a mask region (4 or 8)")


class _LocTable(_Localisation):
    """A CSV/TSV of annotations; a row names its image by ``image_column``: the file
    ``root/image_dir/<value><image_suffix>``, or the one file ``image_pattern`` matches with
    ``{image}`` = the value (or the named groups of ``image_regex`` matched against it)."""

    table: str | None = None
    split_tables: dict[str, str] = Field(default_factory=dict, description="{split: table} instead of 'table'")
    image_column: str = "image"
    image_dir: str = ""
    image_suffix: str = ""
    image_pattern: str | None = Field(None, description="file pattern of the image, e.g. 'dicom/*/*/{image}.dcm'")
    image_regex: str | None = Field(None, description="regex with named groups for image_pattern's placeholders")
    split_column: str | None = None
    group_column: str | None = None
    delimiter: str | None = Field(None, description="csv field delimiter; default: sniffed / by extension")
    window: tuple[float, float] | None = Field(None, description="DICOM display window (center, width)")

    @model_validator(mode="after")
    def _check_loc_table(self) -> "_LocTable":
        if bool(self.table) == bool(self.split_tables):
            raise ValueError("set exactly one of 'table' or 'split_tables'")
        _pattern(self.image_pattern)
        if self.image_regex is not None:
            try:
                groups = set(re.compile(self.image_regex).groupindex)
            except re.error as e:
                raise ValueError(f"image_regex is not a regular expression: {e}") from None
            if not self.image_pattern or not set(_PLACEHOLDERS.findall(self.image_pattern)) <= groups:
                raise ValueError("image_regex needs an image_pattern whose placeholders are its named groups")
        elif self.image_pattern and set(_PLACEHOLDERS.findall(self.image_pattern)) != {"image"}:
            raise ValueError("image_pattern's only placeholder is {image} (or set image_regex)")
        return self


class BoxTableLayout(_LocTable):
    """Boxes in a table, one row per box (VinDr: image_id, class_name, x_min ... y_max); a row
    with ``empty_label`` and empty coordinates says 'no finding'."""

    type: Literal["box_table"] = "box_table"
    label_column: str = "label"
    box_columns: list[str] = Field(default_factory=lambda: ["x_min", "y_min", "x_max", "y_max"], min_length=4,
                                   max_length=4, description="the 4 coordinate columns, in box_format's order")
    box_format: Literal["xyxy", "xywh"] = Field("xyxy", description="x_min, y_min, x_max, y_max or x, y, w, h")


class RleTableLayout(_LocTable, _MaskFields):
    """Run-length masks in a table (Kaggle pixel RLE), one row per region or per class."""

    type: Literal["rle_table"] = "rle_table"
    label_column: str | None = None
    label: str | None = Field(None, description="the label of every row, when there is no label_column")
    rle_column: str = "rle"
    rle_order: Literal["row-major", "column-major"] = Field(description="pixel numbering: along rows or down columns")
    rle_offsets: Literal["absolute", "relative"] = Field("absolute", description="relative: from the previous run's end")
    rle_start: Literal[0, 1] | None = Field(None, description="first pixel number (default 1; 0 when relative)")
    empty_values: list[str] = Field(default_factory=lambda: ["", "-1"], description="RLE values meaning 'absent'")

    @model_validator(mode="after")
    def _check_rle(self) -> "RleTableLayout":
        if (self.label_column is None) == (self.label is None):
            raise ValueError("set exactly one of 'label_column' or 'label'")
        return self

    def label_names(self) -> list[str]:
        return super().label_names() + ([self.label] if self.label else [])


class CocoLayout(_Localisation):
    """COCO detection json (``bbox`` [x, y, w, h]); ``use_segmentation`` also keeps the masks."""

    type: Literal["coco"] = "coco"
    file: str | None = None
    split_files: dict[str, str] = Field(default_factory=dict, description="{split: json} instead of 'file'")
    split: Literal["train", "val", "test"] | None = None
    image_dir: str = Field("", description="the folder images' file_name is relative to (under root)")
    use_segmentation: bool = Field(False, description="store each image's segmentation as its mask")

    @model_validator(mode="after")
    def _check_files(self) -> "CocoLayout":
        if bool(self.file) == bool(self.split_files):
            raise ValueError("set exactly one of 'file' or 'split_files'")
        return self


class _Paired(_Localisation):
    image_pattern: str = Field(description="file pattern of the images, e.g. '{split}/images/{id}.jpg'")

    @field_validator("image_pattern")
    @classmethod
    def _image_pattern(cls, v: str) -> str:
        return _pattern(v)  # type: ignore[return-value]

    def _same_placeholders(self, *patterns: str) -> None:
        want = set(_PLACEHOLDERS.findall(self.image_pattern))
        for p in patterns:
            _pattern(p)
            if not set(_PLACEHOLDERS.findall(p)) <= want:
                raise ValueError(f"pattern {p!r} may only use placeholders of image_pattern {sorted(want)}")


class VocLayout(_Paired):
    """Pascal VOC XML, one file per image (``one_based``: VOC's 1-based inclusive pixel boxes)."""

    type: Literal["voc"] = "voc"
    annotation_pattern: str
    one_based: bool = True

    @model_validator(mode="after")
    def _check_voc(self) -> "VocLayout":
        self._same_placeholders(self.annotation_pattern)
        return self


class YoloLayout(_Paired):
    """YOLO txt labels (``class cx cy w h``, normalised), one file per image."""

    type: Literal["yolo"] = "yolo"
    label_pattern: str
    classes: list[str] | None = Field(None, description="class names by index")
    classes_file: str | None = Field(None, description="classes.txt (one name a line) or data.yaml (names:)")

    @model_validator(mode="after")
    def _check_yolo(self) -> "YoloLayout":
        self._same_placeholders(self.label_pattern)
        if (self.classes is None) == (self.classes_file is None):
            raise ValueError("set exactly one of 'classes' or 'classes_file'")
        return self

    def label_names(self) -> list[str]:
        return super().label_names() + list(self.classes or [])


class MaskLayer(_Strict):
    """One mask file per image: binary (``label``, may be '{placeholder}') or a label map (``values``)."""

    pattern: str
    label: str | None = None
    values: dict[int | str, str] | None = Field(None, description="raw value (or '#rrggbb') -> label")
    threshold: int | None = Field(None, ge=1, description="binary foreground: value >= threshold (default: "
                                                          "128 for JPEG masks, else 1)")
    invert: bool = Field(False, description="binary foreground: value < threshold (black on white)")

    @model_validator(mode="after")
    def _check_layer(self) -> "MaskLayer":
        _pattern(self.pattern)
        if (self.label is None) == (not self.values):
            raise ValueError("set exactly one of 'label' (binary mask) or 'values' (label map)")
        if self.values:
            keys = [str(k) for k in self.values]
            if any(k.startswith("#") for k in keys) and not all(re.fullmatch(r"#[0-9A-Fa-f]{6}", k) for k in keys):
                raise ValueError("label-map keys are all whole numbers or all '#rrggbb' colours")
            if not any(k.startswith("#") for k in keys) and not all(k.isdigit() and int(k) > 0 for k in keys):
                raise ValueError("label-map keys are whole numbers > 0 (0 is the background)")
        return self


class MaskPairsLayout(_MaskFields, _Paired):
    """Image/mask folder pairs matched by name pattern (binary masks or label maps)."""

    type: Literal["mask_pairs"] = "mask_pairs"
    masks: list[MaskLayer] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_masks(self) -> "MaskPairsLayout":
        self._same_placeholders(*(m.pattern for m in self.masks))
        for m in self.masks:
            unknown = set(_PLACEHOLDERS.findall(m.label or "")) - set(_PLACEHOLDERS.findall(self.image_pattern))
            if unknown:
                raise ValueError(f"mask label {m.label!r} names placeholders {sorted(unknown)} the patterns lack")
        return self

    def label_names(self) -> list[str]:
        names = [m.label for m in self.masks if m.label and not _PLACEHOLDERS.search(m.label)]
        return super().label_names() + names + [v for m in self.masks for v in (m.values or {}).values()]


class NiftiLabelsLayout(_MaskFields, _Paired, _SliceFields):
    """NIfTI image volumes with label volumes on the same grid, sliced like ``nifti``."""

    type: Literal["nifti_labels"] = "nifti_labels"
    label_pattern: str
    values: dict[int, str] = Field(min_length=1, description="label value -> label")

    @model_validator(mode="after")
    def _check_labels(self) -> "NiftiLabelsLayout":
        self._same_placeholders(self.label_pattern)
        if any(k <= 0 for k in self.values):
            raise ValueError("label values are whole numbers > 0 (0 is the background)")
        return self

    def label_names(self) -> list[str]:
        return super().label_names() + list(self.values.values())


LOCALISATION_LAYOUTS = ("box_table", "rle_table", "coco", "voc", "yolo", "mask_pairs", "nifti_labels")
LOCALISATION_CLASSES = (BoxTableLayout, RleTableLayout, CocoLayout, VocLayout, YoloLayout, MaskLayer,
                        MaskPairsLayout, NiftiLabelsLayout)


Layout = Annotated[
    Union[ClassFoldersLayout, LabelTableLayout, DicomLayout, NiftiLayout, MedmatJsonLayout, BoxTableLayout, CocoLayout,
          VocLayout, YoloLayout, MaskPairsLayout, RleTableLayout, NiftiLabelsLayout],
    Field(discriminator="type"),
]
LAYOUT_TYPES = ("class_folders", "label_table", "dicom", "nifti", "medmat_json") + LOCALISATION_LAYOUTS


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
    also_feeds: list[str] = Field(default_factory=list, description="classification subsets a detection or "
                                  "segmentation dataset also feeds, with questions on its labels (the v2 setting)")

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

    @model_validator(mode="after")
    def _layout_kind(self) -> "DatasetEntry":
        """A localisation layout feeds a detection/segmentation entry, and names only its labels."""
        if self.layout is None:
            return self
        localisation = self.layout.type in LOCALISATION_LAYOUTS
        if localisation != (self.kind != "classification"):
            raise ValueError(f"a {self.kind} dataset cannot use a {self.layout.type} layout (box and mask layouts "
                             f"{', '.join(LOCALISATION_LAYOUTS)} are for detection/segmentation entries)")
        if localisation and self.labels is not None:
            known = {fold(x) for x in [*self.labels, *self.label_aliases]}
            bad = [n for n in self.layout.label_names() if fold(n) not in known]  # type: ignore[union-attr]
            if bad:
                raise ValueError(f"the layout names labels {bad} that are neither in labels nor label_aliases")
        return self


class SubsetEntry(_MatEntry):
    """A Med-MAT subset: every source dataset sharing one triplet, merged.

    ``labels`` is the union over its datasets (plus any declared here); ``datasets`` is
    filled by the loader. ``templates`` are free-text instructions without options.
    """

    id: str
    labels: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    fed_by: list[str] = Field(default_factory=list, description="localisation datasets that also feed this "
                              "classification subset (their ``also_feeds``); filled by the loader")
    templates: list[str] | None = None
    builder: str | None = Field(None, description="question builder (medmat.vqa.builders): choice, box-choice, "
                                                  "grounding, presence, count; default by kind")

    @field_validator("id", mode="before")
    @classmethod
    def _idv(cls, v: Any) -> str:
        return _id(v, "subset")

    @field_validator("builder")
    @classmethod
    def _builder(cls, v: str | None) -> str | None:
        if v is not None:
            from medmat.vqa.builders import QUESTION_BUILDERS

            if v not in QUESTION_BUILDERS:
                raise ValueError(f"unknown question builder {v!r} (known: {', '.join(QUESTION_BUILDERS.names())})")
        return v

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
