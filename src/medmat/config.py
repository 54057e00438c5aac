"""Typed stage configurations: one base class and ONE place where their layers are merged.

Every stage (build, plan, train, eval, report) has one config class. Its fields carry
their help text (``Field(description=...)``) and their default, defined once; the CLI
derives its flags from the fields (``medmat.cli._options``) and the study file embeds the
same classes. The precedence is TRL's: defaults < YAML (a config or study file) <
command-line ``--set``/flags, applied by :func:`resolve_config` and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

DEFAULT_CAP = 3000
"""Med-MAT's per-subset training cap (label-balanced); every stage takes it from here."""


class StrictConfig(BaseModel):
    """A config section: unknown keys are errors (a typo must not fall back to a default)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ConfigError(ValueError):
    """A config file or flag that cannot be read or validated; the message names where and which field."""


C = TypeVar("C", bound=BaseModel)


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The mapping in a YAML file, or a ConfigError that names the file (empty file: ``{}``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} file is a mapping of settings, not a {type(data).__name__}")
    return data


def format_errors(err: ValidationError, where: str = "", flags: frozenset[str] = frozenset()) -> str:
    """pydantic's errors as one line: ``where: a.b: message; ...``; a field set by a
    command-line flag is named as the flag (``--max-steps: ...``)."""
    msgs = []
    for e in err.errors():
        parts = [str(x) for x in e["loc"] if not str(x).startswith("function-")]
        if parts and parts[0] in flags:
            msgs.append(f"--{parts[0].replace('_', '-')}: {e['msg']}")
            continue
        msgs.append(f"{(where + ': ') if where else ''}{'.'.join(parts) or 'config'}: {e['msg']}")
    return "; ".join(msgs)


def parse_assignments(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["lora_r=8", "bf16=false"]`` -> ``{"lora_r": 8, "bf16": False}`` (values read as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {pair!r} is not KEY=VALUE (write key=value)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "train.max_steps", 5)``: nested assignment, creating sections as needed."""
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = node[p] = {}
        node = child
    node[leaf] = value


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge key by key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve_config(cls: type[C], file: str | Path | None = None, data: Mapping[str, Any] | None = None,
                   sets: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
                   where: str = "") -> C:
    """defaults < ``file`` (YAML) or ``data`` < ``sets`` (dotted ``--set`` keys) < ``flags``.

    ``flags`` holds the command-line options of the fields; None means "flag not given"
    and never overrides. Mappings merge key by key (``extra: {lora_r: 8}`` from a flag
    keeps the file's other ``extra`` keys). Validation runs once, on the merged result,
    and its errors name the file (or ``where``) and the field.
    """
    merged: dict[str, Any] = dict(data or {})
    if file is not None:
        merged = deep_merge(read_yaml_mapping(file), merged)
        where = where or str(file)
    for dotted, value in (sets or {}).items():
        set_dotted(merged, dotted, value)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    merged = deep_merge(merged, given)
    try:
        return cls.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(format_errors(e, where, frozenset(given))) from None
