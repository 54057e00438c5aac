"""Backbones: Hugging Face multimodal LLMs and the CPU reference model, behind one interface.

``BACKBONES`` names every backbone lazily (``"module:Object"``): listing names, did-you-mean
errors and ``medmat --help`` import no torch; ``BACKBONES.get(name)`` imports the one asked
for. :func:`open_backbone` is the one way the stages create or load a model.
"""

from __future__ import annotations

from pathlib import Path


from medmat.models.base import Backbone, FitCallback, FitResult, ModelConfig, TrainConfig
from medmat.models.hf.families import FAMILIES
from medmat.registry import Registry

BACKBONES: Registry[type[Backbone]] = Registry("backbone")
BACKBONES.add_lazy("reference", "medmat.models.reference.backbone:ReferenceBackbone")
for _name, _family in FAMILIES.items():
    BACKBONES.add_lazy(_name, f"medmat.models.hf.backbone:{_family.backbone_class}")


def open_backbone(model: ModelConfig, checkpoint: str | Path | None = None, seed: int = 0) -> Backbone:
    """The backbone ``model`` names, loaded from ``checkpoint`` (else ``model.path``; neither:
    a fresh model initialised with ``seed``, where the backbone has one)."""
    cls = BACKBONES.get(model.backbone)
    where = checkpoint if checkpoint is not None else model.path
    return cls.load(Path(where) if where is not None else None, seed=seed, **dict(model.options))


__all__ = ["BACKBONES", "Backbone", "FitCallback", "FitResult", "ModelConfig", "TrainConfig", "open_backbone"]
