"""The export's config (``medmat export``): which items, how images are referenced, names.

One class, so the CLI flags come from its fields (``medmat.cli._options.config_flags``)
and a YAML file (``--config``) can hold the same settings.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from medmat.config import StrictConfig

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class ExportConfig(StrictConfig):
    """What to export and how (defaults < --config YAML < flags)."""

    split: Literal["train", "test", "all"] = Field("all", description="Split to export: train, test or all "
                                                                      "(one file per split present).")
    subsets: list[str] = Field(default_factory=list, description="Only these subsets (default: all).")
    copy_images: bool = Field(False, description="Copy images into the export folder and reference them "
                                                 "relative to it (json/jsonl formats).")
    trl_style: Literal["messages", "prompt-completion"] = Field(
        "messages", description="trl only: conversational 'messages' or 'prompt-completion' columns.")
    capped: bool = Field(False, description="Apply the store's per-subset train cap (label-balanced).")
    name: str | None = Field(None, description="Dataset name for vlmevalkit (TSV name, image-cache folder), "
                                               "lmms-eval (task and group names), the parquet dataset card "
                                               "and sharegpt's dataset_info keys; other formats have no name. "
                                               "Default: vlmevalkit medmat_<split>_<content hash>, others "
                                               "medmat.")

    family: str | None = Field(None, description="Grounding items in trl/llava/sharegpt: write boxes in this model "
                                                 "family's syntax (qwen2-vl: box tokens, 0-1000; qwen2.5-vl: pixel "
                                                 "JSON). Default: medmat's [x1, y1, x2, y2], 0-1000.")
    max_pixels: int | None = Field(None, ge=1, description="With a pixel box syntax (qwen2.5-vl): the max_pixels "
                                                           "the model's processor runs with (default: the "
                                                           "checkpoint's), which sets the pixel frame.")

    @field_validator("family")
    @classmethod
    def _family(cls, v: str | None) -> str | None:
        if v is not None:
            from medmat.models.hf.families import FAMILIES
            from medmat.registry import UnknownNameError

            try:
                FAMILIES.get(v)
            except UnknownNameError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("subsets")
    @classmethod
    def _subsets(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(s for s in v if s))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not NAME_RE.fullmatch(v):
            raise ValueError(f"a name starts with a letter and has at most 64 letters, digits, '_' or '-', "
                             f"got {v!r} (it becomes a file name and a task name)")
        return v


ExportOptions = ExportConfig
"""The older name of :class:`ExportConfig`."""
