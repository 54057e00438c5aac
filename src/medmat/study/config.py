"""The study file (``medmat run STUDY.yaml``): one YAML that fully describes a study.

It embeds the stages' own config classes, so a field has the same name, help and default
in a study file, on the command line and in the library:

    name: my-study
    seed: 0            # the default seed of every stage that does not set its own
    data:   BuildConfig     (medmat build)
    plan:   PlanConfig      (medmat plan)
    model:  ModelConfig     (medmat train / eval: --backbone, --model, --option)
    train:  TrainConfig     (medmat train)
    eval:   EvalConfig      (medmat eval)
    report: ReportConfig    (medmat report)
    cases:  {name: {dotted.field: value}}   the whole study once per case, side by side

Precedence: defaults < the file < ``--set section.field=value`` (``medmat.config.resolve_config``).
Relative paths in the file are relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from medmat.build.config import BuildConfig
from medmat.config import ConfigError, StrictConfig, deep_merge, read_yaml_mapping, resolve_config
from medmat.evaluate.config import EvalConfig
from medmat.models.base import ModelConfig, TrainConfig
from medmat.plan.config import PlanConfig
from medmat.study.report_config import ReportConfig

SEEDED = ("data", "plan", "train", "eval")
CASE_FIXED = ("name", "seeds", "cases", "base_dir", "first_seed_only", "report")


class StudyConfig(StrictConfig):
    name: str = Field(description="Names the run folder (runs/<name>) and the report.")
    description: str = ""
    seed: int = Field(0, description="Seed of every stage that sets none of its own.")
    seeds: list[int] = Field(default_factory=list, description=(
        "Run the whole study once per seed (data generation, planning, initialisation, data order and "
        "bootstrap all take it; a stage's own seed is overridden) and pool the runs; empty = one run with `seed`."))
    first_seed_only: list[str] = Field(default_factory=list, description=(
        "Arm kinds planned only in the first of `seeds` (diagnostics such as `controls` that would "
        "otherwise multiply a study's trainings); the report says so."))
    data: BuildConfig
    plan: PlanConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "Named overrides of `train` (e.g. {sft: {method: full}, rl: {method: grpo}}): every arm is trained "
        "and evaluated once per variant and the report sets them side by side; empty = `train` alone."))
    cases: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "Named whole-study settings, e.g. {dial-1: {data.synth.modality_effect: 1}} (dotted fields of this "
        "file): the study runs once per case (each like a seed, into case-<name>/), results.json labels every "
        "row with its case and the report sets the cases side by side; empty = the study as written."))
    train_workers: int = Field(1, ge=1, description=(
        "Trainings run at once, each in its own CPU process with cores/N torch threads (backbones with "
        "parallel_fits: the reference model); a model does not depend on it when train.extra.threads is set."))
    base_dir: str = Field(".", description="Folder relative paths resolve against (set by load_study).")

    @model_validator(mode="before")
    @classmethod
    def _seed_stages(cls, data: Any) -> Any:
        """The study seed is the default seed of each stage that does not set one."""
        if isinstance(data, dict) and "seed" in data:
            data = dict(data)
            for section in SEEDED:
                sec = data.get(section)
                if sec is None and section in ("train", "eval"):
                    sec = {}
                if isinstance(sec, dict) and "seed" not in sec:
                    data[section] = {**sec, "seed": data["seed"]}
        return data

    @model_validator(mode="after")
    def _targets(self) -> "StudyConfig":
        self.plan.check_targets()  # before the data is built, not after
        for name in self.variants:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"variant name {name!r}: a non-empty name without '/' is a folder name")
            self.train_for(name)  # each variant must be a valid train config
        for name, sets in self.cases.items():
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"case name {name!r}: a non-empty name without '/' is a folder name")
            fixed = sorted(k for k in sets if k.split(".", 1)[0] in CASE_FIXED)
            if fixed:
                raise ValueError(f"case {name!r} sets {fixed}: a case changes the study's settings, not "
                                 f"{', '.join(CASE_FIXED)}")
            self.for_case(name)  # each case must be a valid study
        return self

    def case_configs(self) -> list[tuple[str | None, "StudyConfig"]]:
        """(case name, the study as that case) for every case; one unnamed one without cases."""
        if not self.cases:
            return [(None, self)]
        return [(name, self.for_case(name)) for name in self.cases]

    def for_case(self, name: str) -> "StudyConfig":
        """This study with one case's dotted settings applied (validated like the file itself)."""
        data = self.model_dump(mode="json", exclude={"cases"})
        return resolve_config(StudyConfig, data=data, sets=self.cases[name], where=f"cases.{name}")

    def train_variants(self) -> list[tuple[str | None, TrainConfig]]:
        """(variant name, its train config) for every variant; one unnamed one without variants."""
        if not self.variants:
            return [(None, self.train)]
        return [(name, self.train_for(name)) for name in self.variants]

    def train_for(self, variant: str | None) -> TrainConfig:
        """``train`` with a variant's overrides merged in (mappings key by key)."""
        if variant is None:
            return self.train
        return resolve_config(TrainConfig, data=deep_merge(self.train.model_dump(mode="json"), self.variants[variant]),
                              where=f"variants.{variant}")

    def for_seed(self, seed: int) -> "StudyConfig":
        """This study as the single run of one of its ``seeds``: every stage takes ``seed``;
        ``first_seed_only`` arm kinds stay only in the first seed's run."""
        data = self.data.model_copy(update={"seed": seed})
        arms = self.plan.arms
        if self.seeds and seed != self.seeds[0]:
            arms = [a for a in arms if a not in self.first_seed_only]
        if data.synth is not None:
            data = data.model_copy(update={"synth": data.synth.model_copy(update={"seed": seed})})
        return self.model_copy(update={
            "seed": seed, "seeds": [], "data": data, "plan": self.plan.model_copy(update={"seed": seed, "arms": arms}),
            "train": self.train.model_copy(update={"seed": seed}), "eval": self.eval.model_copy(update={"seed": seed}),
        })

    def resolve(self, p: str | None) -> Path | None:
        """A path of the study file, resolved against the file's folder."""
        if p is None:
            return None
        path = Path(p).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def model_resolved(self) -> ModelConfig:
        """The model section with its path made absolute (it enters content keys)."""
        path = self.resolve(self.model.path)
        return self.model.model_copy(update={"path": str(path.resolve()) if path is not None else None})


StudyError = ConfigError


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Load and validate a study YAML (``overrides``: dotted ``--set`` keys); errors name the
    file and the field."""
    path = Path(path)
    raw = read_yaml_mapping(path, "study")
    raw.setdefault("base_dir", str(path.parent.resolve()))
    return resolve_config(StudyConfig, data=raw, sets=overrides, where=str(path))
