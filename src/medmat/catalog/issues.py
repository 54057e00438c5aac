"""Catalog validation problems and how they are worded.

A problem names the FILE, the ENTRY (``datasets[2] (id 'foo')``) and the FIELD, and says
what to do (did-you-mean for names and schema fields), so one ``medmat catalog validate``
run shows a user everything to fix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from medmat.registry import UnknownNameError
from medmat.catalog.models import (
    LAYOUT_TYPES,
    LOCALISATION_CLASSES,
    ClassFoldersLayout,
    DatasetEntry,
    DicomLayout,
    LabelTableLayout,
    MedmatJsonLayout,
    NiftiLayout,
    SubsetEntry,
    TableRow,
)


@dataclass(frozen=True)
class CatalogIssue:
    """One validation problem: ``file: entry: field: message`` (parts omitted when unknown)."""

    file: str
    entry: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        return ": ".join(p for p in (self.file, self.entry, self.field, self.message) if p)


class CatalogError(ValueError):
    """A catalog failed validation; ``errors`` lists every :class:`CatalogIssue`."""

    def __init__(self, errors: Sequence[CatalogIssue]):
        self.errors = list(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} catalog error(s):\n{lines}")


def unknown_message(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown subset '2'; did you mean '02'?`` without listing every known name."""
    known = list(known)
    close = [k for k in known if name.isdigit() and k.isdigit() and int(k) == int(name)]
    close += [c for c in difflib.get_close_matches(name, known, n=3, cutoff=0.5) if c not in close]
    if not close:
        close = [k for k in known if name.strip().lower() and name.strip().lower() in k.lower()]
    close = close[:3]
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown {what} {name!r}{hint}"


def unknown_name_error(what: str, name: str, known: Iterable[str]) -> UnknownNameError:
    err = UnknownNameError(what, name, list(known))
    err.message = unknown_message(what, name, known)
    return err


def pydantic_loc(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "layout" and parts[1] in LAYOUT_TYPES:
        parts.pop(1)
    return ".".join(parts)


def _schema_fields() -> list[str]:
    names = {"triplet"}
    for cls in (DatasetEntry, SubsetEntry, ClassFoldersLayout, LabelTableLayout,
                DicomLayout, NiftiLayout, MedmatJsonLayout, TableRow, *LOCALISATION_CLASSES):
        names.update(cls.model_fields)
    return sorted(names)


def pydantic_message(err: dict) -> str:
    msg = str(err.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    kind = err.get("type")
    if kind == "extra_forbidden":
        name = str(err["loc"][-1]) if err.get("loc") else ""
        close = difflib.get_close_matches(name, _schema_fields(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else " (check the spelling)"
        msg = f"unknown field {name!r}{hint}"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind in ("union_tag_not_found", "union_tag_invalid"):
        msg = f"{msg}; 'type' must be one of {', '.join(LAYOUT_TYPES)}"
    return msg


def issue_order(files: list[str]):
    """Sort key: file order, then section, then entry index (cross-checks join their entry)."""
    def key(issue: CatalogIssue):
        fi = files.index(issue.file) if issue.file in files else len(files)
        m = re.match(r"(\w+)\[(\d+)\]", issue.entry or "")
        section = {"subsets": 1, "templates": 2, "datasets": 3}.get(m.group(1), 0) if m else 0
        return (fi, section, int(m.group(2)) if m else -1)

    return key
