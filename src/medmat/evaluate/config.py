"""The eval stage's config (``medmat eval``, a study's ``eval:``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from medmat.config import StrictConfig

DEFAULT_BOOT = 1000
"""Bootstrap resamples of every interval, unless a stage asks for another number."""


class EvalConfig(StrictConfig):
    """How answers are asked for and scored (defaults < study/YAML < CLI flags)."""

    scorers: list[str] = Field(default_factory=lambda: ["option", "generate"],
                               description="Scorers: option (letter log-probabilities), generate (text + parser), "
                                           "box (grounding items: text + box parser, IoU; added by itself "
                                           "when grounding items are evaluated).")
    circular: bool = Field(False, description="Also ask every rotation of the options (circular evaluation).")
    batch_size: int = Field(8, ge=1, description="Questions per forward pass.")
    max_new_tokens: int = Field(16, ge=1, description="Longest generated answer.")
    n_boot: int = Field(DEFAULT_BOOT, ge=1, validation_alias=AliasChoices("n_boot", "bootstrap"),
                        description="Bootstrap resamples of every interval.")
    seed: int = Field(0, description="Bootstrap seed (and the sample of in-distribution items).")
    in_distribution: int = Field(200, ge=0, description="Studies: test items of the arm's own training subsets "
                                                        "also evaluated, label-balanced (0: none).")

    @field_validator("scorers")
    @classmethod
    def _scorers(cls, v: list[str]) -> list[str]:
        from medmat.evaluate.scorers import SCORERS
        from medmat.registry import UnknownNameError

        if not v:
            raise ValueError("no scorers given")
        for name in v:
            try:
                SCORERS.get(name)
            except UnknownNameError as e:
                raise ValueError(str(e)) from None
        return list(dict.fromkeys(v))
