"""Infrastructure shared by every source reader: path safety, layout access, label folding.

Readers stay small because everything that is the same for all raw layouts lives here:
turning a raw path into a safe POSIX path relative to the data root, folding raw label
spellings into the catalog's canonical labels, normalising split names, and making the
deterministic record id.
"""

from __future__ import annotations

import difflib
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from medmat.io import PathEscapesRoot, stable_hash
from medmat.io import safe_relpath as _io_safe_relpath
from medmat.mat.vocab import fold
from medmat.records import LabeledRecord, Skip

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
# DICOM files are often named by their UID ("1.2.840....5") or have no extension at all, so
# every file is a candidate and the header read decides ('not-an-image' otherwise).
DICOM_EXTENSIONS = ("*",)
NIFTI_EXTENSIONS = (".nii", ".nii.gz")

_SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train", "trainval": "train",  # TN3K: val joins train anyway
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test", "tst": "test",
}


class SourceError(ValueError):
    """A raw dataset or layout that cannot be read at all (bad table, bad config)."""


class DatasetEscapesRoot(SourceError, PathEscapesRoot):
    """A layout path (data root, table, json file) outside the data root: the whole dataset
    is unreadable. :func:`safe_relpath` lives in ``medmat.io`` and raises a plain
    :class:`PathEscapesRoot`; ``read_dataset`` re-raises it as this, so callers that report
    unreadable datasets (``except SourceError``) keep catching it."""


def safe_relpath(root: str | Path, path: str | Path) -> str:
    """``medmat.io.safe_relpath`` for paths read from raw tables and json: a path the OS
    cannot even name (a NUL byte, a component longer than it allows) is refused the same
    way as one that leaves the root, so the reader records a skip instead of failing."""
    text = str(path)
    if "\x00" in text:
        raise PathEscapesRoot(f"{text!r} contains a NUL byte; it cannot name a file")
    try:
        return _io_safe_relpath(root, path)
    except PathEscapesRoot:
        raise
    except (OSError, ValueError) as e:
        raise PathEscapesRoot(f"{text[:200]!r} is not a usable path: {type(e).__name__}: {e}"[:400]) from None


def lget(layout: Any, name: str, default: Any = None) -> Any:
    """A layout field from a pydantic model, any object or a plain mapping (duck-typed)."""
    if isinstance(layout, Mapping):
        value = layout.get(name, default)
    else:
        value = getattr(layout, name, default)
    return default if value is None else value


def normalize_split(value: str | None) -> str | None:
    """'training'/'valid'/'Validation' ... -> 'train'/'val'/'test'; None/'' -> None.

    Raises KeyError for a value that is not a split, which readers record as a skip.
    """
    if value is None or str(value).strip() == "":
        return None
    return _SPLIT_ALIASES[fold(value)]


@dataclass
class Entry:
    """One raw image with its labels, before a format reader turns it into records."""

    relpath: str
    raw_labels: tuple[str, ...]
    split: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReaderContext:
    """What every reader of one dataset needs: ids, the root, label folding."""

    dataset_id: str
    data_root: Path
    labels: list[str] | None = None
    label_aliases: Mapping[str, str] | None = None
    limits: Any = None  # medmat.imaging.limits.FileLimits: header checks before records are made
    _folded_aliases: dict[str, str] = field(init=False, default_factory=dict)
    _folded_labels: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        self._folded_aliases = {fold(k): v for k, v in (self.label_aliases or {}).items()}
        self._folded_labels = {fold(lab): lab for lab in (self.labels or [])}

    def skip(self, path: str, reason: str, detail: str = "") -> Skip:
        return Skip(source=self.dataset_id, path=path, reason=reason, detail=detail)

    def canonical_label(self, raw: str) -> str:
        """Fold one raw label through the aliases; raises KeyError naming the closest known label."""
        raw = str(raw).strip()
        aliases = self.label_aliases or {}
        value = aliases.get(raw) or self._folded_aliases.get(fold(raw)) or raw
        if self.labels is None:
            return value
        if value in self._folded_labels.values():
            return value
        if fold(value) in self._folded_labels:
            return self._folded_labels[fold(value)]
        close = difflib.get_close_matches(value, list(self.labels), n=1, cutoff=0.0)
        hint = f"; closest known label: {close[0]!r}" if close else ""
        raise KeyError(f"label {raw!r} is not one of the dataset's labels{hint}")

    def make_records(self, entry: Entry, parts: Iterable[Any] = (), meta: Mapping[str, Any] | None = None):
        """Canonicalise ``entry``'s labels and build its record (or the Skip explaining why not)."""
        try:
            labels = tuple(dict.fromkeys(self.canonical_label(lab) for lab in entry.raw_labels))
        except KeyError as e:
            return self.skip(entry.relpath, "unknown-label", e.args[0])
        if not labels:
            return self.skip(entry.relpath, "no-label", "no label for this image")
        extra = tuple(parts)
        rid = f"{self.dataset_id}:{stable_hash(entry.relpath, *labels, *extra)}"
        return LabeledRecord(
            id=rid, dataset=self.dataset_id, image=entry.relpath, labels=labels, split=entry.split,
            group=entry.group, meta={**entry.meta, **(meta or {})},
        )


def has_extension(name: str, extensions: Iterable[str]) -> bool:
    """Whether the file name (not its folders) ends with one of ``extensions``; '*' = any, '' = none."""
    low = posixpath.basename(name).lower()
    for ext in extensions:
        if ext == "*":
            return True
        if ext == "":
            if "." not in low:
                return True
        elif low.endswith(ext.lower() if ext.startswith(".") else "." + ext.lower()):
            return True
    return False


def is_file(path: Path) -> bool:
    """``path.is_file()`` that says False (not raise) for names the OS refuses (too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX") or name in ("Thumbs.db", "desktop.ini")
