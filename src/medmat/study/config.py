"""The study file (`medmat run STUDY.yaml`): one YAML that fully describes a study.

Precedence: defaults < YAML < CLI flags. Paths in the file are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medmat.models.base import TrainConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SynthSection(_Strict):
    """Generate the synthetic MAT benchmark first (the embedded default)."""

    seed: int = 0
    size: int = 64
    per_label: int = 40
    options: dict[str, Any] = Field(default_factory=dict, description="extra SynthConfig fields")


class DataSection(_Strict):
    synth: SynthSection | None = None
    catalogs: list[str] = Field(default_factory=list, description="user catalog YAML files")
    data_root: str | None = None
    datasets: list[str] = Field(default_factory=list, description="dataset ids; empty = every buildable one")
    medmat_json: list[str] = Field(default_factory=list, description="released Med-MAT json files to import")
    image_root: str | None = None
    cap: int | None = 3000
    max_side: int | None = 512
    workers: int = 2

    @model_validator(mode="after")
    def _one_source(self) -> "DataSection":
        if self.synth is None and not self.data_root and not self.medmat_json:
            raise ValueError("data needs `synth`, a `data_root` (raw datasets of the built-in or user "
                             "`catalogs`) or `medmat_json` (released Med-MAT files + `image_root`)")
        if self.synth is not None and (self.catalogs or self.data_root or self.medmat_json):
            raise ValueError("`synth` generates its own data: drop catalogs / data_root / medmat_json, "
                             "or run the synthetic benchmark as a separate study")
        return self


class PlanSection(_Strict):
    targets: list[str] = Field(default_factory=list, description="target triplets 'M/A/T'")
    all_targets: bool = False
    arms: list[str] = Field(default_factory=lambda: ["zero-shot", "related", "unrelated"])
    max_per_direction: int = 1
    directions: list[str] = Field(default_factory=list)
    low_data_k: list[int] = Field(default_factory=lambda: [0, 50, 100, 200, 500])
    max_train: int | None = None
    cap: int | None = None

    @model_validator(mode="after")
    def _some_target(self) -> "PlanSection":
        if not self.targets and not self.all_targets:
            raise ValueError("plan needs `targets` or `all_targets: true`")
        return self


class ModelSection(_Strict):
    backbone: str = "reference"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class EvalSection(_Strict):
    scorers: list[Literal["option", "generate"]] = Field(default_factory=lambda: ["option", "generate"])
    circular: bool = False
    batch_size: int = 32
    max_new_tokens: int = 16
    bootstrap: int = 1000


class StudyConfig(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    data: DataSection
    plan: PlanSection
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalSection = Field(default_factory=EvalSection)
    base_dir: str = Field(".", description="folder relative paths resolve against (set by load_study)")

    def resolve(self, p: str | None) -> Path | None:
        if p is None:
            return None
        path = Path(p)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def resolve_glob(self, patterns: list[str]) -> list[Path]:
        """Files matching each pattern (relative to the study file); a pattern matching nothing is an error."""
        out: list[Path] = []
        for pat in patterns:
            base = self.resolve(pat)
            hits = sorted(base.parent.glob(base.name)) if any(c in base.name for c in "*?[") else [base]
            hits = [h for h in hits if h.is_file()]
            if not hits:
                raise StudyError(f"no file matches {pat!r} (relative to {self.base_dir})")
            out.extend(hits)
        return out


class StudyError(ValueError):
    pass


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Load and validate a study YAML; errors name the file and the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except yaml.YAMLError as e:
        raise StudyError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping with name, data, plan, model, train, eval")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    raw.setdefault("base_dir", str(path.parent.resolve()))
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise StudyError(f"{path}: {msgs}") from None
