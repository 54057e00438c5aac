"""Load the built-in Med-MAT catalog and user catalogs laid over it, validating everything.

Every problem is collected (not just the first) as a :class:`CatalogIssue` naming the FILE,
the ENTRY (section, index and id) and the FIELD, so a user fixing a catalog sees the whole
list in one run. :class:`CatalogError` carries that list.

Layering: the built-in files come first, then each user file in order. A later entry with
an id already defined is an error unless it says ``override: true`` (then it replaces the
earlier entry whole; an overriding subset without ``templates`` keeps the earlier ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml
from pydantic import BaseModel, ValidationError

from medmat.catalog.issues import (
    CatalogError,
    CatalogIssue,
    issue_order,
    pydantic_loc,
    pydantic_message,
    unknown_message,
    unknown_name_error,
)
from medmat.catalog.models import DatasetEntry, SubsetEntry
from medmat.mat import Vocabulary, default_vocabulary

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same results, ~10x faster when built
MIN_TEMPLATES = 6
TOP_KEYS = ("vocabulary", "subsets", "datasets", "templates")
BUILTIN_PREFIX = "medmat/catalog/data/"


@dataclass
class Catalog:
    """The validated catalog: datasets and subsets by id, the vocabulary they were checked with."""

    vocab: Vocabulary
    datasets: dict[str, DatasetEntry]
    subsets: dict[str, SubsetEntry]
    files: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # "dataset:<id>" / "subset:<id>" -> file

    def dataset(self, dataset_id: str) -> DatasetEntry:
        try:
            return self.datasets[dataset_id]
        except KeyError:
            raise unknown_name_error("dataset", dataset_id, self.datasets) from None

    def subset(self, subset_id: str) -> SubsetEntry:
        try:
            return self.subsets[subset_id]
        except KeyError:
            raise unknown_name_error("subset", subset_id, self.subsets) from None

    def templates(self, subset_id: str) -> list[str]:
        """Instruction templates of a subset (>= 6 for classification, may be [] for det/seg)."""
        return list(self.subset(subset_id).templates or [])

    def subset_of(self, dataset_id: str) -> SubsetEntry:
        return self.subset(self.dataset(dataset_id).subset)

    def datasets_of(self, subset_id: str) -> list[DatasetEntry]:
        return [self.datasets[d] for d in self.subset(subset_id).datasets]


# ------------------------------------------------------------------------ public API
def load_catalog(user_files: Iterable[str | Path] = (), *, builtin: bool = True) -> Catalog:
    """The built-in catalog with ``user_files`` laid over it, in order; raises CatalogError."""
    files = tuple(str(f) for f in user_files)
    if builtin and not files:
        cat = _builtin_catalog()
        return Catalog(cat.vocab, dict(cat.datasets), dict(cat.subsets), list(cat.files), dict(cat.origins))
    return _build(files, builtin)


def validate_catalog(user_files: Iterable[str | Path] = (), *, builtin: bool = True) -> list[CatalogIssue]:
    """Every issue of the layered catalog (empty when it is valid); never raises CatalogError."""
    try:
        load_catalog(user_files, builtin=builtin)
    except CatalogError as e:
        return e.errors
    return []


# ------------------------------------------------------------------------ layers
@dataclass
class _Layer:
    file: str
    vocabulary: Any = None
    subsets: list[Any] = field(default_factory=list)
    datasets: list[Any] = field(default_factory=list)
    templates: dict[str, Any] = field(default_factory=dict)
    subset_files: str = ""
    dataset_files: str = ""


@lru_cache(maxsize=1)
def _builtin_catalog() -> Catalog:
    return _build((), True)


@lru_cache(maxsize=1)
def _builtin_docs() -> tuple[tuple[str, Any], ...]:
    data = resources.files("medmat.catalog").joinpath("data")
    return tuple(
        (BUILTIN_PREFIX + name, yaml.load(data.joinpath(name).read_text(encoding="utf-8"), Loader=_YamlLoader))
        for name in ("subsets.yaml", "templates.yaml", "datasets.yaml")
    )


def _builtin_layer(issues: list[CatalogIssue]) -> _Layer:
    layer = _Layer(file=BUILTIN_PREFIX)
    for fname, doc in _builtin_docs():
        _fill(layer, fname, doc or {}, issues)
    return layer


def _user_layer(path: str, issues: list[CatalogIssue]) -> _Layer | None:
    p = Path(path)
    if not p.is_file():
        issues.append(CatalogIssue(path, None, None, "no such catalog file"))
        return None
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_YamlLoader)
    except UnicodeDecodeError as e:
        issues.append(CatalogIssue(path, None, None, f"not UTF-8 text (byte {e.start}); a catalog is a YAML file"))
        return None
    except RecursionError:
        issues.append(CatalogIssue(path, None, None, "malformed YAML: nested too deeply"))
        return None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        issues.append(CatalogIssue(path, None, None, f"malformed YAML{where}: {getattr(e, 'problem', e)}"))
        return None
    layer = _Layer(file=path)
    _fill(layer, path, {} if doc is None else doc, issues)
    return layer


def _fill(layer: _Layer, fname: str, doc: Any, issues: list[CatalogIssue]) -> None:
    if not isinstance(doc, dict):
        issues.append(CatalogIssue(fname, None, None, f"a catalog file is a mapping with keys {list(TOP_KEYS)}"))
        return
    for key in doc:
        if key not in TOP_KEYS:
            issues.append(CatalogIssue(fname, None, str(key), f"unknown top-level key; expected one of {list(TOP_KEYS)}"))
    if doc.get("vocabulary") is not None:
        layer.vocabulary = (fname, doc["vocabulary"])
    for key in ("subsets", "datasets"):
        rows = doc.get(key)
        if rows is None:
            continue
        if not isinstance(rows, list):
            issues.append(CatalogIssue(fname, None, key, "must be a list of entries"))
            continue
        getattr(layer, key).extend((fname, i, row) for i, row in enumerate(rows))
    tpl = doc.get("templates")
    if tpl is not None:
        if not isinstance(tpl, dict):
            issues.append(CatalogIssue(fname, None, "templates", "must map subset id -> list of templates"))
        else:
            for sid, rows in tpl.items():
                layer.templates[str(sid)] = (fname, rows)


# ------------------------------------------------------------------------ build
def _build(user_files: Sequence[str], builtin: bool) -> Catalog:
    issues: list[CatalogIssue] = []
    layers = [_builtin_layer(issues)] if builtin else []
    for path in user_files:
        layer = _user_layer(path, issues)
        if layer is not None:
            layers.append(layer)

    vocab = default_vocabulary()
    for layer in layers:
        if layer.vocabulary is not None:
            vocab = _extend_vocab(vocab, *layer.vocabulary, issues)

    subsets: dict[str, SubsetEntry] = {}
    datasets: dict[str, DatasetEntry] = {}
    where: dict[str, tuple[str, str]] = {}  # "subset:<id>" -> (file, entry label)
    for layer in layers:
        for fname, i, raw in _unique_rows("subset", layer.subsets, issues):
            raw = _with_templates(raw, layer.templates)
            entry = _validate(SubsetEntry, raw, fname, f"subsets[{i}]", vocab, issues)
            if entry is not None:
                _place("subset", entry, subsets, where, fname, f"subsets[{i}]", issues)
        for sid, (fname, rows) in layer.templates.items():
            if not any(isinstance(r, dict) and str(r.get("id")) == sid for _, _, r in layer.subsets):
                _attach_templates(sid, fname, rows, subsets, vocab, issues)
        for fname, i, raw in _unique_rows("dataset", layer.datasets, issues):
            entry = _validate(DatasetEntry, raw, fname, f"datasets[{i}]", vocab, issues)
            if entry is not None:
                _place("dataset", entry, datasets, where, fname, f"datasets[{i}]", issues)

    subsets = _link(subsets, datasets, where, issues)
    if issues:
        order = [BUILTIN_PREFIX + n for n in ("subsets.yaml", "templates.yaml", "datasets.yaml")] + list(user_files)
        raise CatalogError(sorted(issues, key=issue_order(order)))
    origins = {k: v[0] for k, v in where.items()}
    return Catalog(vocab, datasets, subsets, [l.file for l in layers], origins)


def _extend_vocab(vocab: Vocabulary, fname: str, data: Any, issues: list[CatalogIssue]) -> Vocabulary:
    if not isinstance(data, dict) or set(data) - {"modalities", "areas", "tasks"}:
        issues.append(CatalogIssue(fname, "vocabulary", None, "must be a mapping with keys modalities/areas/tasks"))
        return vocab
    try:
        return vocab.extended(data)
    except (ValueError, TypeError) as e:
        issues.append(CatalogIssue(fname, "vocabulary", None, str(e)))
        return vocab


def _with_templates(raw: Any, templates: dict[str, Any]) -> Any:
    if isinstance(raw, dict) and "templates" not in raw and str(raw.get("id")) in templates:
        return {**raw, "templates": templates[str(raw.get("id"))][1]}
    return raw


def _attach_templates(sid, fname, rows, subsets, vocab, issues) -> None:
    if sid not in subsets:
        issues.append(CatalogIssue(fname, f"templates[{sid!r}]", None, f"no subset {sid!r} to attach templates to"))
        return
    data = subsets[sid].model_dump(exclude={"datasets"})
    data["templates"] = rows
    entry = _validate(SubsetEntry, data, fname, f"templates[{sid!r}]", vocab, issues)
    if entry is not None:
        subsets[sid] = entry


def _label(entry_label: str, raw: Any) -> str:
    if isinstance(raw, dict) and raw.get("id") is not None:
        return f"{entry_label} (id {str(raw['id'])!r})"
    return entry_label


def _validate(model: type[BaseModel], raw: Any, fname: str, entry_label: str, vocab: Vocabulary,
              issues: list[CatalogIssue]) -> Any:
    label = _label(entry_label, raw)
    if not isinstance(raw, dict):
        issues.append(CatalogIssue(fname, label, None, "an entry must be a mapping"))
        return None
    try:
        return model.model_validate(raw, context={"vocab": vocab})
    except ValidationError as e:
        for err in e.errors():
            issues.append(CatalogIssue(fname, label, pydantic_loc(err["loc"]) or None, pydantic_message(err)))
        return None


def _unique_rows(what: str, rows: list, issues: list[CatalogIssue]) -> list:
    """Rows of one layer minus repeated ids within that layer (each repeat is an issue)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for fname, i, raw in rows:
        rid = str(raw.get("id")).strip() if isinstance(raw, dict) and raw.get("id") is not None else None
        if rid is not None and (fname, rid) in seen:
            issues.append(CatalogIssue(fname, _label(f"{what}s[{i}]", raw), "id",
                                       f"duplicate {what} id {rid!r} (also {what}s[{seen[(fname, rid)]}] in the same file)"))
            continue
        if rid is not None:
            seen[(fname, rid)] = i
        out.append((fname, i, raw))
    return out


def _place(what, entry, table, where, fname, entry_label, issues) -> None:
    key, label = f"{what}:{entry.id}", f"{entry_label} (id {entry.id!r})"
    if entry.id in table and not entry.override:
        first = where[key]
        issues.append(CatalogIssue(fname, label, "id", f"duplicate {what} id {entry.id!r} (first defined in "
                                   f"{first[0]} {first[1]}); set 'override: true' to replace it"))
        return
    if entry.id not in table and entry.override:
        issues.append(CatalogIssue(fname, label, "override", f"override: true but no earlier {what} {entry.id!r} to replace"))
        return
    if what == "subset" and entry.id in table and entry.templates is None:
        entry = entry.model_copy(update={"templates": table[entry.id].templates})
    table[entry.id] = entry
    where[key] = (fname, label)


def _link(subsets, datasets, where, issues) -> dict[str, SubsetEntry]:
    """Cross-entry checks; fills each subset's ``datasets`` and ``labels``."""
    members: dict[str, list[str]] = {sid: [] for sid in subsets}
    fed_by: dict[str, list[str]] = {}
    for did, d in datasets.items():
        fname, label = where[f"dataset:{did}"]
        s = subsets.get(d.subset)
        if s is None:
            issues.append(CatalogIssue(fname, label, "subset", unknown_message("subset", d.subset, subsets)))
            continue
        members[s.id].append(did)
        if d.triplet != s.triplet and not any(c.endswith("-mismatch") for c in d.flag_codes):
            issues.append(CatalogIssue(fname, label, "subset", f"triplet {d.triplet} differs from subset {s.id}'s "
                                       f"{s.triplet}; fix it or add a flag 'triplet-mismatch: <why>'"))
        if (d.kind == "classification") != (s.kind == "classification"):
            issues.append(CatalogIssue(fname, label, "kind", f"{d.kind} dataset in {s.kind} subset {s.id}"))
        if d.status == "released" and s.status == "todo":
            issues.append(CatalogIssue(fname, label, "status", f"released dataset in todo subset {s.id}"))
        for sid in d.also_feeds:
            problem = _also_feeds_problem(d, subsets.get(sid), sid, subsets)
            if problem:
                issues.append(CatalogIssue(fname, label, "also_feeds", problem))
            else:
                fed_by.setdefault(sid, []).append(did)
    out: dict[str, SubsetEntry] = {}
    for sid, s in subsets.items():
        fname, label = where[f"subset:{sid}"]
        n = len(s.templates or [])
        if s.kind == "classification" and n < MIN_TEMPLATES:
            issues.append(CatalogIssue(fname, label, "templates", f"a classification subset needs at least "
                                       f"{MIN_TEMPLATES} distinct templates, has {n}"))
        labels = list(s.labels)
        for did in members[sid]:
            for lab in datasets[did].labels or []:
                if lab not in labels:
                    labels.append(lab)
        out[sid] = s.model_copy(update={"datasets": members[sid], "labels": labels, "fed_by": fed_by.get(sid, [])})
    return out


def _also_feeds_problem(d: DatasetEntry, s: SubsetEntry | None, sid: str, subsets: dict) -> str | None:
    """Why a dataset cannot also feed subset ``sid`` (None when it can): a localisation dataset
    feeds a classification subset of its own modality and area."""
    if s is None:
        return unknown_message("subset", sid, subsets)
    if sid == d.subset:
        return f"{sid} is already the dataset's subset"
    if d.kind == "classification" or s.kind != "classification":
        return f"only a detection/segmentation dataset can also feed a classification subset ({d.kind} -> {s.kind})"
    if (d.modality, d.area) != (s.modality, s.area):
        return f"subset {sid} is {s.modality}/{s.area}, the dataset {d.modality}/{d.area}"
    return None
