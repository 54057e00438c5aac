"""The one interface every backbone implements, and the registry that names them.

A backbone answers Med-MAT single-choice questions. The evaluator asks it for two things:
  * ``score_options``: log-probabilities of each option letter (A, B, ...) as the answer,
    one list per item, of length ``item.n_options``;
  * ``generate``: free text answers, parsed afterwards by the robust answer parser.
Training goes through ``fit``, which must be resumable: called again with the same
``out_dir`` after an interruption it continues from the last checkpoint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from medmat.registry import Registry
from medmat.records import VQAItem


class TrainConfig(BaseModel):
    """Hyper-parameters shared by every backbone (defaults < YAML < CLI flags).

    Backbone-specific settings go in ``extra`` and are validated by the backbone.
    """

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    method: str = Field("lora", description="'lora' or 'full' (HF backbones)")
    save_every: int = 200
    extra: dict[str, Any] = Field(default_factory=dict)


class Backbone(ABC):
    """A model that can be trained on VQA items and answer them."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
        """Train on ``train`` (images resolved against ``store_root``); save to ``out_dir``.

        Returns a small dict of training facts (steps, final loss, seconds ...).
        """

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
    def load(cls, path: Path | None, **kwargs: Any) -> "Backbone":
        """Load from a checkpoint folder written by ``save`` or a HF model folder.

        ``path=None`` builds a fresh, randomly initialised model from ``kwargs`` where the
        backbone supports it (the CPU reference model does: that is its zero-shot arm).
        The training CLI creates every backbone this way: ``BACKBONES.get(name).load(path, **options)``.
        """


BACKBONES: Registry[type[Backbone]] = Registry("backbone")
