"""The one interface every backbone implements, and the typed configs of the train stage.

A backbone answers Med-MAT single-choice questions. The evaluator asks it for two things:
  * ``score_options``: log-probabilities of each option letter (A, B, ...) as the answer,
    one list per item, of length ``item.n_options``;
  * ``generate``: free text answers, parsed afterwards by the robust answer parser.
Training goes through ``fit``, which must be resumable (called again with the same
``out_dir`` after an interruption it continues from the last checkpoint), reports
progress only through :class:`FitCallback` and returns a :class:`FitResult` with the same
fields for every backbone. Code that trains a backbone never touches its private state.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from pydantic import Field

from medmat.config import StrictConfig
from medmat.records import VQAItem


class TrainConfig(StrictConfig):
    """Hyper-parameters shared by every backbone (defaults < YAML < CLI flags).

    Backbone-specific settings go in ``extra`` and are validated by the backbone.
    """

    seed: int = Field(0, description="Seed of data order, augmentation and (fresh models) initialisation.")
    epochs: float = Field(1.0, ge=0.0, description="Passes over the training items (unless max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs.")
    batch_size: int = Field(8, ge=1, description="Items per device per micro-batch.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr: float = Field(1e-4, ge=0.0, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="Share of the steps spent warming up.")
    method: Literal["grpo", "lora", "full"] = Field(
        "lora", description="lora | full: supervised fine-tuning (HF: LoRA adapters | all weights); grpo: RL with "
                            "verifiable rewards (HF: TRL's GRPO, adapter chosen by extra.adapter; reference: policy "
                            "gradient), settings in docs/training.md.")
    save_every: int = Field(200, ge=1, description="Steps between resumable checkpoints.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Backbone training settings (KEY=VALUE).")


class ModelConfig(StrictConfig):
    """Which model a stage trains or evaluates (shared by the train and eval stages)."""

    backbone: str = Field("reference", description="Registered backbone (reference, qwen2-vl, llava ...).")
    path: str | None = Field(None, description="Model folder (HF checkpoint); none = a fresh model where supported.")
    options: dict[str, Any] = Field(default_factory=dict, description="Backbone load option KEY=VALUE.")


@dataclass
class FitResult:
    """What every backbone's ``fit`` returns (``details`` holds backbone-specific facts).

    ``final_loss`` is the mean loss of the last tenth of the logged steps (at least one),
    the same definition for every backbone; ``losses`` is ``[[step, loss], ...]``.
    """

    steps: int
    total_steps: int
    n_train: int
    seconds: float
    resumed_from: int | None = None  # the step training continued from, None for a fresh run
    first_loss: float | None = None
    final_loss: float | None = None
    items_per_s: float | None = None
    losses: list[list[float]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def tail_mean(losses: Sequence[Sequence[float]]) -> float | None:
        if not losses:
            return None
        tail = [float(v) for _, v in losses[-max(1, math.ceil(len(losses) / 10)):]]
        return sum(tail) / len(tail)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FitCallback:
    """Progress hooks of ``fit``; every backbone calls them the same way (no-ops here)."""

    def on_step(self, step: int, total: int, loss: float | None) -> None:
        """After optimizer step ``step`` of ``total``; ``loss`` when one was logged."""


class Backbone(ABC):
    """A model that can be trained on VQA items and answer them."""

    name: ClassVar[str]
    data_parallel: ClassVar[bool] = False
    """True when ``fit`` trains data-parallel under ``accelerate launch`` (HF backbones);
    otherwise rank 0 trains alone and the other ranks wait (the train stage does this)."""
    parallel_fits: ClassVar[bool] = False
    """True when several of its trainings may run at once in separate CPU processes (a
    study's ``train_workers``): small CPU models whose one training cannot use every core."""

    @abstractmethod
    def fit(self, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
            callbacks: Sequence[FitCallback] = ()) -> FitResult:
        """Train on ``train`` (images resolved against ``store_root``); save to ``out_dir``."""

    @abstractmethod
    def score_options(self, items: Sequence[VQAItem], store_root: Path, batch_size: int = 8) -> list[list[float]]:
        """Log-probability of each option letter being the answer, per item."""

    @abstractmethod
    def generate(self, items: Sequence[VQAItem], store_root: Path, max_new_tokens: int = 16, batch_size: int = 8) -> list[str]:
        """Free-text answers to ``item.question_choice``."""

    @abstractmethod
    def save(self, out_dir: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path | None, *, seed: int = 0, **options: Any) -> "Backbone":
        """Load from a checkpoint folder written by ``save`` or a HF model folder.

        ``path=None`` builds a fresh, randomly initialised model from ``options`` and
        ``seed`` where the backbone supports it (the CPU reference model does: that is its
        zero-shot arm); ``seed`` is ignored when weights are loaded.
        """
