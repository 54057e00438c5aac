"""Training configuration: defaults < YAML file < command-line flags (TRL's precedence).

A train YAML holds ``TrainConfig`` fields at the top level, HF- or backbone-specific
settings under ``extra``, and the backbone's load options (image resolution, dtype ...)
under ``load_options``:

    seed: 0
    max_steps: 500
    lr: 2.0e-4
    method: lora
    extra: {lora_r: 16, gradient_checkpointing: true}
    load_options: {max_pixels: 200704}

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medmat.models.base import TrainConfig


class TrainSpec(BaseModel):
    """Everything ``medmat train`` needs beyond the manifest and the backbone name."""

    model_config = ConfigDict(extra="forbid")
    config: TrainConfig = Field(default_factory=TrainConfig)
    load_options: dict[str, Any] = Field(default_factory=dict)


class TrainConfigError(ValueError):
    pass


def parse_assignments(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["lora_r=8", "bf16=false"]`` -> ``{"lora_r": 8, "bf16": False}`` (values read as YAML scalars)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TrainConfigError(f"{what} {pair!r} is not KEY=VALUE (write key=value)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def load_train_spec(path: Path | None = None, overrides: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None, load_options: dict[str, Any] | None = None) -> TrainSpec:
    """Merge defaults, the YAML file at ``path`` and the flags; validate once at the end.

    ``overrides`` are TrainConfig fields given on the command line (None values are
    flags left unset and do not override); ``extra`` and ``load_options`` are merged key
    by key over the file's.
    """
    data: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise TrainConfigError(f"{path}: no such train config file")
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise TrainConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise TrainConfigError(f"{path}: a train config is a mapping of settings")
    data = dict(data)
    file_load = data.pop("load_options", None) or {}
    cfg = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    cfg["extra"] = {**(cfg.get("extra") or {}), **(extra or {})}
    try:
        return TrainSpec(config=TrainConfig(**cfg), load_options={**file_load, **(load_options or {})})
    except ValidationError as e:
        where = f"{path}: " if path else ""
        msgs = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'config'}: {err['msg']}" for err in e.errors())
        raise TrainConfigError(f"{where}{msgs}") from None
