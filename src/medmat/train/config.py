"""The train config file of ``medmat train --config FILE``: TrainConfig fields at the top
level, backbone-specific settings under ``extra`` and the backbone's load options (image
resolution, dtype ...) under ``load_options``:

    seed: 0
    max_steps: 500
    lr: 2.0e-4
    method: lora
    extra: {lora_r: 16, gradient_checkpointing: true}
    load_options: {max_pixels: 200704}

Layers merge in ``medmat.config.resolve_config`` (defaults < file < flags); unknown keys
are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from medmat.config import ConfigError, StrictConfig, read_yaml_mapping, resolve_config
from medmat.models.base import TrainConfig

TrainConfigError = ConfigError


class TrainSpec(StrictConfig):
    """A train config file read: the hyper-parameters and the backbone's load options."""

    config: TrainConfig = Field(default_factory=TrainConfig)
    load_options: dict[str, Any] = Field(default_factory=dict)


def load_train_spec(path: Path | None = None, overrides: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None, load_options: dict[str, Any] | None = None) -> TrainSpec:
    """defaults < the file at ``path`` < flags (``overrides``: TrainConfig fields, None = unset;
    ``extra`` and ``load_options`` merge key by key over the file's)."""
    data = read_yaml_mapping(path, "train config") if path is not None else {}
    file_load = data.pop("load_options", None) or {}
    flags = {**(overrides or {}), "extra": extra or None}
    config = resolve_config(TrainConfig, data=data, flags=flags, where=str(path) if path else "")
    return TrainSpec(config=config, load_options={**file_load, **(load_options or {})})
