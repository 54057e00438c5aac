"""The plan stage's config (``medmat plan``, a study's ``plan:``): which targets, which arms.

Recorded in every manifest's ``settings`` (without the target list, which is not a
property of one manifest), so a plan can be traced to the options that made it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from medmat.config import DEFAULT_CAP, StrictConfig
from medmat.registry import UnknownNameError

DEFAULT_ARMS = ("zero-shot", "related", "unrelated")
DEFAULT_KS = (0, 50, 100, 200, 500)


def _known(registry: Any, name: str) -> None:
    try:
        registry.get(name)
    except UnknownNameError as e:  # pydantic reports ValueErrors, not KeyErrors
        raise ValueError(str(e)) from None


class PlanConfig(StrictConfig):
    """Planner options (defaults < study/YAML < CLI flags)."""

    kind: Literal["cg", "multi-task"] = Field("cg", description=(
        "cg: compositional-generalization arms around a held-out target; multi-task: every subset tested "
        "after zero-shot / single-task / multi-task training, subsets below the cap out-of-distribution."))
    targets: list[str] = Field(default_factory=list, description="Target triplets 'Modality/Area/Task' (repeatable).")
    all_targets: bool = Field(False, description="Plan every eligible target of the store.")
    arms: list[str] = Field(default_factory=lambda: list(DEFAULT_ARMS),
                            description="Arm kinds: zero-shot, related, unrelated, controls, leave-out, low-data; "
                                        "with kind multi-task: zero-shot, single-task, multi-task.")
    directions: list[str] | None = Field(None, description="Related direction types to keep (none: all seven).")
    max_per_direction: int | None = Field(3, ge=0, description="Related arms kept per direction type (0: all).")
    cap: int | None = Field(None, ge=0, description="Per-subset training cap, label-balanced (none: the cap the "
                                                    f"store was built with, else {DEFAULT_CAP}; 0: no cap).")
    train_size: int | None = Field(None, ge=1, validation_alias=AliasChoices("train_size", "max_train"),
                                   description="Budget of each related arm, shared evenly by its sources.")
    low_data_k: list[int] = Field(default_factory=lambda: list(DEFAULT_KS),
                                  validation_alias=AliasChoices("low_data_k", "ks"),
                                  description="Low-data arms: target training items.")
    strict_size: bool = Field(False, description="Fail instead of downsizing matched arms.")
    sample_targets: int | None = Field(None, ge=1, description="With all_targets: plan a seeded draw (draw_seed) of "
                                                               "this many eligible targets, fixed before any training.")
    rows_per_target: int | None = Field(None, ge=1, description="Keep at most this many direction types per target, "
                                                                "the least used so far first (balanced rows).")
    draw_seed: int = Field(0, description="Seed of the target draw; the same for every seed of a study.")
    cross_kind: Literal["cls-det", "det-cls", "both"] | None = Field(None, description=(
        "Classification <-> localisation arms: cls-det (localisation targets, classification related sources), "
        "det-cls (the reverse) or both; none: the kind of a subset plays no part (plan/kinds.py)."))
    seed: int = Field(0, description="Every sample of items derives from it.")

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[str]) -> list[str]:
        from medmat.plan.arms import ARM_KINDS, ARM_ORDER

        for name in v:
            _known(ARM_KINDS, name)
        return [a for a in ARM_ORDER if a in v]

    @model_validator(mode="after")
    def _kind_arms(self) -> "PlanConfig":
        from medmat.plan.arms import MULTI_TASK_KINDS

        if self.kind == "multi-task":
            bad = [a for a in self.arms if a not in MULTI_TASK_KINDS]
            if "arms" not in self.model_fields_set:
                self.arms = ["zero-shot", "single-task", "multi-task"]
            elif bad:
                raise ValueError(f"a multi-task plan has the arms {', '.join(sorted(MULTI_TASK_KINDS))}, not {bad}")
        else:
            bad = [a for a in self.arms if a in MULTI_TASK_KINDS - {"zero-shot"}]
            if bad:
                raise ValueError(f"arms {bad} belong to a multi-task plan: set kind: multi-task")
        return self

    @field_validator("directions")
    @classmethod
    def _dirs(cls, v: list[str] | None) -> list[str] | None:
        from medmat.plan.elements import DIRECTION_ORDER, DIRECTIONS

        if not v:
            return None
        for name in v:
            _known(DIRECTIONS, name)
        return [d for d in DIRECTION_ORDER if d in v]  # flag order never changes the file

    @field_validator("low_data_k")
    @classmethod
    def _ks(cls, v: list[int]) -> list[int]:
        if any(k < 0 for k in v):
            raise ValueError("low-data k values must be >= 0")
        return sorted(set(v))

    @field_validator("max_per_direction")
    @classmethod
    def _all_is_none(cls, v: int | None) -> int | None:
        return v or None

    def check_targets(self) -> None:
        """Raise ValueError unless exactly one of ``targets`` / ``all_targets`` is given."""
        if self.all_targets and self.targets:
            raise ValueError("give either targets or all_targets, not both")
        if not self.all_targets and not self.targets:
            raise ValueError("name the targets to plan (M/A/T), or ask for all_targets")

    def for_store(self, store: Any) -> "PlanConfig":
        """This config with ``cap`` made concrete: the store's own cap when none was given."""
        if self.cap is not None:
            return self
        recorded = store.meta.get("cap", DEFAULT_CAP)  # None: the store was built uncapped
        return self.model_copy(update={"cap": recorded or 0})

    @property
    def cap_value(self) -> int | None:
        """The cap as the planner applies it (None: uncapped); call on a ``for_store`` config."""
        return None if self.cap == 0 else (DEFAULT_CAP if self.cap is None else self.cap)

    def settings(self) -> dict[str, Any]:
        """What a manifest records: every option but the list of targets."""
        out = self.model_dump(mode="json", exclude={"targets", "all_targets"})
        if out.get("cross_kind") is None:  # plans without it keep the bytes they had before it existed
            out.pop("cross_kind", None)
        return out
