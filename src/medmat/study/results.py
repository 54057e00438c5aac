"""Study results as data: the single file a report is drawn from (results.json).

The runner aggregates per-arm metrics into these rows; the report only reads them and
never recomputes a number, so a table and a plot can always be traced to this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medmat.io import read_json, write_json

RESULTS_VERSION = 1


class ResultRow(BaseModel):
    """One arm of one target scored by one scorer."""

    model_config = ConfigDict(extra="forbid")
    target: str
    target_subset: str = ""
    arm: str
    kind: str  # zero-shot | related | unrelated | leave-out | low-data | all-data
    direction: str | None = None
    sources: list[str] = Field(default_factory=list)
    n_train: int = 0
    k: int | None = None  # low-data arms: number of target items trained on
    with_related: bool | None = None  # low-data arms
    scorer: str
    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    invalid_rate: float = 0.0
    chance: float
    pred_letters: dict[str, int] = Field(default_factory=dict)
    true_letters: dict[str, int] = Field(default_factory=dict)
    circular_accuracy: float | None = None
    in_distribution_accuracy: float | None = None
    seed: int | None = None  # the study seed of the run this row comes from
    variant: str | None = None  # the train variant (study `variants`), None without variants
    case: str | None = None  # the study case (study `cases`), None without cases


class GainRow(BaseModel):
    """Related minus unrelated on the same target items, with a paired bootstrap interval."""

    model_config = ConfigDict(extra="forbid")
    target: str
    scorer: str
    related_arm: str
    unrelated_arm: str
    direction: str | None = None
    shared: list[str] = Field(default_factory=list)  # elements the related sources supply
    gain: float
    ci_low: float
    ci_high: float
    n: int
    seed: int | None = None
    variant: str | None = None
    case: str | None = None


class PooledRow(BaseModel):
    """One comparison (target, related arm) pooled over the study's seeds: Table 3's row."""

    model_config = ConfigDict(extra="forbid")
    scorer: str
    variant: str | None = None
    case: str | None = None
    target: str
    target_subset: str = ""
    direction: str | None = None
    related_arm: str
    unrelated_arm: str
    sources: list[str] = Field(default_factory=list)
    n_train: int = 0
    seeds: list[int] = Field(default_factory=list)
    zero_shot: float | None = None  # means over seeds
    unrelated: float
    related: float
    related_shuffled: float | None = None  # vocabulary controls, when planned
    unrelated_vocab: float | None = None
    gain: float  # related - unrelated: mean over seeds, interval over seeds x items
    gain_ci_low: float
    gain_ci_high: float
    related_in_distribution: float | None = None
    unrelated_in_distribution: float | None = None


class PooledSummary(BaseModel):
    """Means over rows (one direction type, or ``direction`` None for all), rows x seeds bootstrap."""

    model_config = ConfigDict(extra="forbid")
    scorer: str
    variant: str | None = None
    case: str | None = None
    direction: str | None = None
    n_rows: int
    n_seeds: int
    mean_zero_shot: float | None = None
    mean_unrelated: float | None = None
    mean_related: float | None = None
    mean_related_shuffled: float | None = None
    mean_unrelated_vocab: float | None = None
    mean_gain: float
    gain_ci_low: float
    gain_ci_high: float
    related_beats_unrelated: int = 0  # rows whose mean related accuracy is higher
    related_beats_zero_shot: int = 0


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scorer: str
    variant: str | None = None
    case: str | None = None
    n_targets: int
    mean_zero_shot: float | None = None
    mean_unrelated: float | None = None
    mean_related: float | None = None
    mean_gain: float | None = None
    gain_ci_low: float | None = None
    gain_ci_high: float | None = None
    related_wins: int = 0
    comparisons: int = 0

    @property
    def gain_excludes_zero(self) -> bool:
        return self.gain_ci_low is not None and self.gain_ci_low > 0


class Mean(BaseModel):
    """A mean with its 95% bootstrap interval; ``n`` groups (subsets, or target x seed comparisons)."""

    model_config = ConfigDict(extra="forbid")
    mean: float
    ci_low: float
    ci_high: float
    n: int


class SubsetRow(BaseModel):
    """Multi-task study: one subset (tested by every arm), pooled over seeds."""

    model_config = ConfigDict(extra="forbid")
    subset: str
    triplet: str
    role: str  # in-distribution | out-of-distribution
    train_items: int  # before the cap
    seeds: list[int] = Field(default_factory=list)
    zero_shot: float | None = None  # means over seeds
    single_task: float | None = None
    multi_task: float | None = None
    n: int = 0  # test items (per seed)
    gain: Mean | None = None  # multi-task - single-task (in-distribution) or - zero-shot (OOD), seeds x items
    partners: dict[str, list[str]] = Field(default_factory=dict)  # element -> other in-distribution subsets sharing it
    n_related: int = 0  # other in-distribution subsets sharing at least one element


class Association(BaseModel):
    """Do subsets with more related partners gain more? Spearman's rho over subsets, a
    permutation p-value (two-sided) and a bootstrap interval (subsets resampled)."""

    model_config = ConfigDict(extra="forbid")
    gain: str  # which gain, e.g. "multi-task - single-task"
    role: str
    partners: str  # which count: "related" (share >= 1 element) or an element
    primary: bool = False  # the test fixed in advance; the others are descriptive
    n: int
    rho: float | None = None  # None: a constant column (no ranking possible)
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_perm: int = 0


class MultiTaskSummary(BaseModel):
    """The paper's multi-task table as data (one per scorer, train variant and case)."""

    model_config = ConfigDict(extra="forbid")
    scorer: str
    variant: str | None = None
    case: str | None = None
    rule: str = ""
    cap: int | None = None
    seeds: list[int] = Field(default_factory=list)
    averages: dict[str, dict[str, Mean]] = Field(default_factory=dict)  # role -> arm kind -> mean over subsets
    gains: dict[str, Mean] = Field(default_factory=dict)  # role -> multi-task minus its comparison arm
    subsets: list[SubsetRow] = Field(default_factory=list)
    associations: list[Association] = Field(default_factory=list)
    paper: dict[str, Any] = Field(default_factory=dict)


class LeaveOutSummary(BaseModel):
    """Leave-one-element-out arms averaged over targets x seeds (one per scorer, variant and case):
    each arm's accuracy and the drop when the subsets sharing one element are left out."""

    model_config = ConfigDict(extra="forbid")
    scorer: str
    variant: str | None = None
    case: str | None = None
    targets: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    arms: dict[str, Mean] = Field(default_factory=dict)  # arm -> accuracy (items resampled per target x seed)
    drops: dict[str, Mean] = Field(default_factory=dict)  # element -> all-related minus wo-<element>, paired
    in_distribution: dict[str, float] = Field(default_factory=dict)  # arm -> mean in-distribution accuracy


class StudyResults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = RESULTS_VERSION
    name: str
    description: str = ""
    backbone: str = ""
    rows: list[ResultRow] = Field(default_factory=list)
    gains: list[GainRow] = Field(default_factory=list)
    summaries: list[Summary] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    pooled: list[PooledRow] = Field(default_factory=list)
    pooled_summaries: list[PooledSummary] = Field(default_factory=list)
    paper: dict[str, Any] = Field(default_factory=dict)  # the paper's Table 3 averages, for comparison
    multitask: list[MultiTaskSummary] = Field(default_factory=list)
    leave_out: list[LeaveOutSummary] = Field(default_factory=list)
    cases: dict[str, dict[str, Any]] = Field(default_factory=dict)  # study `cases`: name -> its overrides
    provenance: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        write_json(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: str | Path) -> "StudyResults":
        return cls.model_validate(read_json(path))

    def scorers(self) -> list[str]:
        """Scorers present, the primary (option-letter) one first."""
        rank = {"option": 0, "generate": 1}
        return sorted({r.scorer for r in self.rows}, key=lambda s: (rank.get(s, 2), s))

    def variants(self) -> list[str | None]:
        """Train variants present, in the order the study named them (None: no variants)."""
        return list(dict.fromkeys(r.variant for r in self.rows)) or [None]

    def targets(self) -> list[str]:
        return list(dict.fromkeys(r.target for r in self.rows))

    def case_names(self) -> list[str | None]:
        """Cases present, in the order the study named them (None: no cases)."""
        return list(self.cases) or [None]

    def for_case(self, case: str | None) -> "StudyResults":
        """The results of one case alone (a study without cases is its own single case)."""
        if not self.cases:
            return self
        keep = lambda xs: [x for x in xs if x.case == case]  # noqa: E731
        return self.model_copy(update={
            "rows": keep(self.rows), "gains": keep(self.gains), "summaries": keep(self.summaries),
            "pooled": keep(self.pooled), "pooled_summaries": keep(self.pooled_summaries),
            "multitask": keep(self.multitask), "leave_out": keep(self.leave_out), "cases": {}})
