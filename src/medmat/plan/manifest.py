"""The experiment manifest: a plain file that fully determines which items each arm uses.

A manifest is written by the planner and read by the trainer and evaluator, possibly on
another machine and months later, so it is validated strictly on load (``extra='forbid'``:
a misspelt key is an error, not a silently ignored field) and every error names the file
and the field. Item lists are explicit and sorted, so a run never re-samples anything.

Manifests list tens of thousands of item ids, and PyYAML spends ~5 us on every scalar in
Python. So the long lists of plain ids are written and read by a fast path
(``_fast_yaml_dump``, ``_fast_yaml_load``) that gives exactly PyYAML's bytes and values:
the rest of the document still goes through PyYAML, a list only takes the fast path when
each id is a scalar PyYAML would write plain (``_plain``), and a read is only trusted when
writing its result back gives the file's exact bytes (otherwise PyYAML reads the file).
"""

from __future__ import annotations

import json
import operator
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from medmat.config import DEFAULT_CAP
from medmat.registry import UnknownNameError
from medmat.io import write_json, write_text
from medmat.runtime import gc_paused

MANIFEST_VERSION = 1
# libyaml when present: manifests list tens of thousands of item ids.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ArmKind = Literal["zero-shot", "related", "unrelated", "leave-out", "low-data", "all-data", "related-shuffled",
                  "unrelated-vocab", "single-task", "multi-task"]


class ManifestError(ValueError):
    """A manifest that cannot be read, or that breaks an invariant."""


class Source(BaseModel):
    """One training subset of an arm: what it supplies and how many items it gives."""

    model_config = ConfigDict(extra="forbid")
    subset: str
    triplet: str
    supplies: list[str] = Field(default_factory=list)  # elements shared with the target
    n: int = Field(ge=0)
    dropped_leaks: int = Field(default=0, ge=0)


class Arm(BaseModel):
    """One training condition. ``train``/``test`` are sorted item ids of the store."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    kind: ArmKind
    direction: str | None = None
    train_subsets: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    train: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    n_train: int = Field(ge=0)
    matched_with: str | None = None
    k: int | None = None  # low-data: number of target training items
    seed: int = 0
    dropped_leaks: int = Field(default=0, ge=0)  # train items dropped: their image is a test image
    downsized_from: int | None = None  # n_train before matching to a smaller partner arm
    transform: str | None = None  # control arms: how the trainer changes the listed items (plan/controls.py)
    controls: str | None = None  # control arms: the arm whose items they transform
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Arm":
        if self.n_train != len(self.train):
            raise ValueError(f"n_train is {self.n_train} but train lists {len(self.train)} items")
        for field in ("train", "test", "train_subsets"):
            values = getattr(self, field)
            if not all(map(operator.lt, values, values[1:])):  # strictly increasing: sorted, no repeats
                raise ValueError(f"{field} must be sorted and without duplicates")
        if self.direction is not None and self.kind != "related":
            raise ValueError(f"only related arms have a direction, this one is {self.kind!r}")
        if self.kind == "related" and self.direction is None:
            raise ValueError("a related arm needs its direction")
        return self


class SkippedArm(BaseModel):
    """An arm that was asked for but could not be built, and why (never silently lost)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    reason: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = MANIFEST_VERSION
    store: str
    store_fingerprint: str
    target: str
    target_subset: str
    seed: int = 0
    cap: int | None = DEFAULT_CAP
    settings: dict[str, Any] = Field(default_factory=dict)  # planner options, for provenance
    arms: list[Arm]
    skipped: list[SkippedArm] = Field(default_factory=list)
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _names(self) -> "Manifest":
        names = [a.name for a in self.arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique, repeated: {', '.join(dup)}")
        for a in self.arms:
            if a.matched_with is not None and a.matched_with not in names:
                raise ValueError(f"arm {a.name!r} is matched_with {a.matched_with!r}, which is not an arm")
        return self

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise UnknownNameError("arm", name, [a.name for a in self.arms])

    @property
    def path(self) -> Path | None:
        """The file this manifest was loaded from or saved to (None if built in memory)."""
        return self._path

    def store_path(self, manifest_path: str | os.PathLike | None = None) -> Path:
        """The store folder; a relative ``store`` is relative to the manifest's folder."""
        p = Path(self.store)
        if p.is_absolute():
            return p
        base = Path(manifest_path) if manifest_path is not None else self._path
        if base is None:
            return p
        return Path(os.path.normpath(base.parent / p))


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        lines.append(f"{path}: field {loc}: {e['msg']}")
    return "\n".join(lines)


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest (YAML or JSON by extension; anything else tried as YAML).

    This checks the file alone; ``medmat.plan.invariants.load_checked`` also checks it
    against the store it names, so a stale or edited plan fails before a run.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file")
    text = path.read_text(encoding="utf-8")
    with gc_paused():  # tens of thousands of ids, no cycles (runtime.gc_paused)
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else _yaml_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise ManifestError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                                f"{e}") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{path}: a manifest is a mapping with keys version, store, target, arms ...")
        try:
            manifest = Manifest.model_validate(data)
        except ValidationError as e:
            raise ManifestError(_format_errors(path, e)) from None
    manifest._path = path
    return manifest


def manifest_text(manifest: Manifest, fmt: str) -> str:
    """Deterministic text of a manifest ('yaml' or 'json'): same manifest, same bytes."""
    data = manifest.model_dump(mode="json")
    if fmt == "json":
        return _json_dump(data)
    return _yaml_dump(data)


# -- fast text for long lists of ids (module docstring) -----------------------------------------
_YAML_OPTIONS = dict(Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")  # ASCII, no indicator, no space, no ':' or '#'
_PRINTABLE = re.compile(r"[\x21-\x7e]+\Z")  # printable ASCII, no space: never folded across lines
# An id PyYAML certainly writes plain and reads back as this string: letters, digits and "_"
# only, and no implicit resolver can take it for a number, bool or null: digit-first with a
# letter in it but not 0b/0x (binary and hex ints), a first character no resolver starts with,
# or one that bool and null words start with (f n o t y) but longer than any such word.
# tests/test_plan_speed.py checks this against PyYAML's own resolvers.
_ID = (r"(?:(?=[0-9_]*[A-Za-z])(?!0[bBxX])[0-9][A-Za-z0-9_]*|[a-eg-mp-su-xzA-EG-MP-SU-XZ_][A-Za-z0-9_]*"
       r"|[fnotyFNOTY][A-Za-z0-9_]{5,})")
# Lines of a newline-joined list that may not be such ids (some are: only a superset matters):
# another character than letters, digits and "_"; no letter; 0b/0x; a short word starting like
# a bool or null. (The first is looked for alone: one scan, and lists rarely have one.)
_OTHER_CHAR = re.compile(r"[^A-Za-z0-9_\n]")
_ODD_CHARS = re.compile(r"^.*[^A-Za-z0-9_\n].*$", re.M)
_ODD = re.compile(r"^(?:[0-9_]*|0[bBxX][A-Za-z0-9_]*|[fnotyFNOTY][A-Za-z0-9_]{0,4})$", re.M)
_RUN = re.compile(rf"(?:^( *)- (?:{_ID}|'[A-Za-z0-9_.\-]*')\n)+", re.M)  # entries a list of ids is written as
_TOKEN = "medmatfastlist{}x"  # stands in for a list in the skeleton document
_SLOT = re.compile(r"^( *)([^\n]*): medmatfastlist(\d+)x$", re.M)


def _plain(value: str) -> bool:
    """Would PyYAML write ``value`` as a plain scalar that reads back as this string?"""
    if not _SAFE.match(value):
        return False
    return not any(rx.match(value) for _, rx in _Dumper.yaml_implicit_resolvers.get(value[0], ()))


def _scalar(value: str) -> str | None:
    """How PyYAML writes ``value`` as a sequence entry (what follows ``- ``), where that does not
    depend on the indentation; None where it might (spaces can fold a long line)."""
    if _plain(value):
        return value
    if not _PRINTABLE.match(value):
        return None
    line = yaml.dump([value], **_YAML_OPTIONS)  # e.g. "- '1234'\n": quoted, on one line
    if not line.startswith("- ") or line.count("\n") != 1:
        return None
    return line[2:-1]


def _skeleton(data: Any, lists: list[list[str]], entries: Any) -> Any:
    """``data`` with every non-empty list of strings held by a mapping key, whose entries
    ``entries(list)`` can write (not None), replaced by a token; the written entries go to ``lists``."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            written = entries(v) if isinstance(v, list) and v and set(map(type, v)) == {str} else None
            if written is not None:
                out[k] = _TOKEN.format(len(lists))
                lists.append(written)
            else:
                out[k] = _skeleton(v, lists, entries)
        return out
    if isinstance(data, list):
        return [_skeleton(v, lists, entries) for v in data]
    return data


def _yaml_dump(data: Any) -> str:
    """``yaml.dump(data, **_YAML_OPTIONS)``, byte for byte, with the id lists written directly."""
    def entries(values: list[str]) -> list[str] | None:
        joined = "\n".join(values)
        if len(values) != joined.count("\n") + 1:  # an id with a line break
            return None
        odd = {v: _scalar(v) for v in _ODD.findall(joined)}  # e.g. '1234', quoted
        if _OTHER_CHAR.search(joined):
            odd.update((v, _scalar(v)) for v in _ODD_CHARS.findall(joined))
        if not odd:
            return values
        if None in odd.values():
            return None
        return [odd.get(v, v) for v in values]

    lists: list[list[str]] = []
    skeleton = _skeleton(data, lists, entries)
    if not lists:
        return yaml.dump(data, **_YAML_OPTIONS)
    text = yaml.dump(skeleton, **_YAML_OPTIONS)
    parts, last, seen = [], 0, 0
    for m in _SLOT.finditer(text):
        indent, key, n = m.group(1), m.group(2), int(m.group(3))
        parts += [text[last:m.start()], f"{indent}{key}:\n{indent}- ", f"\n{indent}- ".join(lists[n])]
        last, seen = m.end(), seen + 1
    if seen != len(lists):  # a token landed somewhere unexpected: let PyYAML write it all
        return yaml.dump(data, **_YAML_OPTIONS)
    return "".join(parts) + text[last:]


def _yaml_load(text: str) -> Any:
    """``yaml.load(text)``: the id lists of a file this module wrote are read directly."""
    lists: list[list[str]] = []

    def collapse(m: re.Match) -> str:
        block, indent = m.group(0), m.group(1)
        values = re.findall(rf"^{indent}- '?([^'\n]*)'?\n", block, re.M)
        if len(values) != block.count("\n"):  # entries of more than one indentation
            return block
        lists.append(values)
        return f"{indent}- {_TOKEN.format(len(lists) - 1)}\n"

    skeleton_text = _RUN.sub(collapse, text)
    if not lists:
        return yaml.load(text, Loader=_Loader)
    try:
        skeleton = yaml.load(skeleton_text, Loader=_Loader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_Loader)
    tokens = {_TOKEN.format(i): v for i, v in enumerate(lists)}

    def expand(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: expand(v) for k, v in obj.items()}
        if isinstance(obj, list):
            out: list[Any] = []
            for v in obj:
                if type(v) is str and v in tokens:
                    out += tokens[v]
                else:
                    out.append(expand(v))
            return out
        return obj

    data = expand(skeleton)
    try:  # trusted only if it is exactly what this module writes for it (else PyYAML reads it)
        if _yaml_dump(data) == text:
            return data
    except (TypeError, ValueError, yaml.YAMLError):
        pass
    return yaml.load(text, Loader=_Loader)


def _json_dump(data: Any) -> str:
    """``json.dumps(data, indent=2, ensure_ascii=False) + "\\n"``, with lists of strings written directly."""
    lists: list[list[str]] = []
    skeleton = _skeleton(data, lists, lambda values: values)
    text = json.dumps(skeleton, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if not lists:
        return text
    enc = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str
    parts, last, seen = [], 0, 0
    for m in re.finditer(r'^( *)(.*)"medmatfastlist(\d+)x"', text, re.M):
        indent, n = m.group(1), int(m.group(3))
        inner = ",\n".join(f"{indent}  {enc(v)}" for v in lists[n])
        parts += [text[last:m.start()], f"{indent}{m.group(2)}[\n{inner}\n{indent}]"]
        last, seen = m.end(), seen + 1
    if seen != len(lists):
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return "".join(parts) + text[last:]


def save_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Write atomically; the extension picks the format (.yaml/.yml or .json)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".yaml", ".yml", ".json"):
        raise ManifestError(f"{path}: a manifest is written as .yaml, .yml or .json, not {ext or 'no extension'!r}")
    write_text(path, manifest_text(manifest, "json" if ext == ".json" else "yaml"))
    manifest._path = path
    return path


def save_data(data: Any, path: str | os.PathLike) -> None:
    """Atomic YAML/JSON write of plain data (the study index), format by extension."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        write_json(path, data)
    else:
        write_text(path, yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False))
