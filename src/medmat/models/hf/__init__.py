"""Hugging Face image-text-to-text backbones (Qwen2-VL, Qwen2.5-VL, LLaVA-1.5, Llama-3.2-Vision,
Idefics3, SmolVLM, Gemma3), registered in ``medmat.models.base.BACKBONES`` under family names.

Importing this package registers the backbones without importing torch or transformers.
"""

from medmat.models.hf.backbone import HFBackbone, LoadOptions
from medmat.models.hf.families import FAMILIES, Family

__all__ = ["FAMILIES", "Family", "HFBackbone", "LoadOptions"]
