"""Hugging Face image-text-to-text backbones (Qwen2-VL, Qwen2.5-VL, LLaVA-1.5, Llama-3.2-Vision,
Idefics3, SmolVLM, Gemma3), one Backbone class per family in ``medmat.models.hf.backbone``,
named lazily in ``medmat.models.BACKBONES``.

Importing this package imports only the family table (no torch, no transformers).
"""

from typing import Any

from medmat.models.hf.families import FAMILIES, Family

__all__ = ["FAMILIES", "Family", "HFBackbone", "LoadOptions"]


def __getattr__(name: str) -> Any:  # HFBackbone / LoadOptions without importing them up front
    if name in ("HFBackbone", "LoadOptions"):
        from medmat.models.hf import backbone

        return getattr(backbone, name)
    raise AttributeError(f"module 'medmat.models.hf' has no attribute {name!r}")
