"""The experiment manifest: a plain file that fully determines which items each arm uses.

A manifest is written by the planner and read by the trainer and evaluator, possibly on
another machine and months later, so it is validated strictly on load (``extra='forbid'``:
a misspelt key is an error, not a silently ignored field) and every error names the file
and the field. Item lists are explicit and sorted, so a run never re-samples anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from medmat.config import DEFAULT_CAP
from medmat.registry import UnknownNameError
from medmat.io import write_json, write_text

MANIFEST_VERSION = 1
# libyaml when present: manifests list tens of thousands of item ids.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ArmKind = Literal["zero-shot", "related", "unrelated", "leave-out", "low-data", "all-data"]


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
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Arm":
        if self.n_train != len(self.train):
            raise ValueError(f"n_train is {self.n_train} but train lists {len(self.train)} items")
        for field in ("train", "test", "train_subsets"):
            values = getattr(self, field)
            if values != sorted(set(values)):
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
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_Loader)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ManifestError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {e}") from None
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
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


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
