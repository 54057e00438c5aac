"""Model families: everything that differs between Hugging Face VLMs, as data.

Code elsewhere in ``medmat.models.hf`` never checks a model's name; it asks the family
record instead (timm-style registry, one small dataclass per family). A family says:
  * which transformers class implements it (checked against the loaded model),
  * which processor class to rebuild without its video processor when torchvision is
    missing (transformers cannot build Qwen/SmolVLM video processors without it),
  * which modules LoRA adapts (the language model only, by regex: Qwen2.5-VL's vision
    MLP also has gate/up/down_proj, so plain module names would adapt the vision tower),
  * which parameters form the vision tower (frozen by default),
  * its prompt format: a chat template with ``{% generation %}`` markers that renders like
    the official checkpoint's (``templates.py``), and the end-of-turn token generation
    stops on, which every supervised span must end with (``supervision.py``),
  * how image-resolution limits are passed to the image processor,
  * how it writes a box in a grounding answer (``box_syntax``, a ``medmat.boxes.BOX_SYNTAXES``
    name) and, for absolute-pixel syntaxes, how its processor resizes the image the pixels
    refer to (``box_resize`` = (factor, min_pixels, max_pixels) of the checkpoint's processor).

This module imports nothing heavy: the CLI and registry listing stay fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from medmat.models.hf.templates import chatml, gemma3, idefics, llama3_vision, llava
from medmat.registry import Registry

_LM_PROJ = r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def _qwen_pixels(min_pixels: int | None, max_pixels: int | None, size: Any) -> dict[str, Any]:
    """Qwen resizes to a pixel count in [shortest_edge, longest_edge] (both required)."""
    if min_pixels is None and max_pixels is None:
        return {}
    lo = int(min_pixels) if min_pixels is not None else getattr(size, "shortest_edge", None)
    hi = int(max_pixels) if max_pixels is not None else getattr(size, "longest_edge", None)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_pixels {lo} is larger than max_pixels {hi}")
    return {"size": {"shortest_edge": lo, "longest_edge": hi}}


def _no_pixels(min_pixels: int | None, max_pixels: int | None, size: Any) -> dict[str, Any]:
    """Fixed-resolution processors: limits do not apply (the image is resized to the tower's size)."""
    return {}


def _longest_edge(min_pixels: int | None, max_pixels: int | None, size: Any) -> dict[str, Any]:
    """Idefics3/SmolVLM resize the longest edge; max_pixels gives it as sqrt(max_pixels)."""
    if max_pixels is None:
        return {}
    return {"size": {"longest_edge": int(max_pixels ** 0.5)}}


@dataclass(frozen=True)
class Family:
    """What one HF VLM family needs; see the module docstring for why each field exists."""

    name: str
    model_class: str  # transformers class name, e.g. "Qwen2VLForConditionalGeneration"
    config_type: str  # config.model_type of checkpoints of this family
    lm_prefix: str  # regex of the language model's decoder layers, e.g. r"language_model\.layers"
    vision_regex: str  # parameters of the vision tower (frozen unless train_vision)
    chat_template: str  # medmat's template (generation markers around answer + end_of_turn)
    end_of_turn: str  # the token that ends the assistant's turn, where generation stops
    image_token: str
    processor_class: str  # class to rebuild without a video processor when it cannot be built
    has_video_processor: bool = False
    pixel_kwargs: Callable[[int | None, int | None, Any], dict[str, Any]] = _no_pixels  # (min, max, current size)
    lora_extra: tuple[str, ...] = ()  # other language-model module names LoRA may adapt
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    box_syntax: str = "plain"  # medmat.boxes.BOX_SYNTAXES name: how grounding answers are written
    box_resize: tuple[int, int, int] | None = None  # pixel syntaxes: (factor, min_pixels, max_pixels)

    @property
    def backbone_class(self) -> str:
        """Name of this family's Backbone class in ``medmat.models.hf.backbone``."""
        return "HFBackbone_" + re.sub(r"\W", "_", self.name)

    def lora_target_regex(self) -> str:
        """peft ``target_modules`` regex (full match): language model attention + MLP only."""
        names = _LM_PROJ if not self.lora_extra else "(" + "|".join([_LM_PROJ[1:-1], *self.lora_extra]) + ")"
        return rf".*{self.lm_prefix}\.\d+\.(self_attn|mlp|cross_attn)\.{names}"


FAMILIES: Registry[Family] = Registry("model family")

_QWEN_TEMPLATE = chatml("You are a helpful assistant.")
_IDEFICS_TEMPLATE = idefics()

for _fam in [
    Family(
        name="qwen2-vl", model_class="Qwen2VLForConditionalGeneration", config_type="qwen2_vl",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)visual\.", chat_template=_QWEN_TEMPLATE,
        end_of_turn="<|im_end|>", image_token="<|image_pad|>", processor_class="Qwen2VLProcessor",
        has_video_processor=True,
        pixel_kwargs=_qwen_pixels, notes="min/max pixels bound the number of image tokens (28x28 pixels each)",
        box_syntax="qwen2-vl",  # <|box_start|>(x1,y1),(x2,y2)<|box_end|>, 0-1000
    ),
    Family(
        name="qwen2.5-vl", model_class="Qwen2_5_VLForConditionalGeneration", config_type="qwen2_5_vl",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)visual\.", chat_template=_QWEN_TEMPLATE,
        end_of_turn="<|im_end|>", image_token="<|image_pad|>", processor_class="Qwen2_5_VLProcessor",
        has_video_processor=True,
        pixel_kwargs=_qwen_pixels, notes="vision MLP has gate/up/down_proj too: the regex keeps LoRA off it",
        box_syntax="qwen2.5-vl",  # {"bbox_2d": [x1, y1, x2, y2]} in pixels of the resized image
        box_resize=(28, 56 * 56, 12_845_056),  # the Instruct checkpoints' preprocessor_config min/max_pixels
    ),
    Family(
        name="llava", model_class="LlavaForConditionalGeneration", config_type="llava",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_tower\.",
        chat_template=llava(), end_of_turn="</s>", image_token="<image>", processor_class="LlavaProcessor",
        notes="LLaVA-1.5 (llava-hf): fixed 336 px CLIP tower; ' A</s>' after 'ASSISTANT:'",
    ),
    Family(
        name="llama-3.2-vision", model_class="MllamaForConditionalGeneration", config_type="mllama",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_model\.",
        chat_template=llama3_vision(),
        end_of_turn="<|eot_id|>", image_token="<|image|>", processor_class="MllamaProcessor",
        notes="cross-attention layers carry the image; LoRA adapts their projections too",
    ),
    Family(
        name="idefics3", model_class="Idefics3ForConditionalGeneration", config_type="idefics3",
        lm_prefix=r"text_model\.layers", vision_regex=r"(^|\.)vision_model\.", chat_template=_IDEFICS_TEMPLATE,
        end_of_turn="<end_of_utterance>", image_token="<image>", processor_class="Idefics3Processor",
        pixel_kwargs=_longest_edge, notes="SmolVLM v1 checkpoints report model_type idefics3: same format, same family",
    ),
    Family(
        name="smolvlm", model_class="SmolVLMForConditionalGeneration", config_type="smolvlm",
        lm_prefix=r"text_model\.layers", vision_regex=r"(^|\.)vision_model\.", chat_template=_IDEFICS_TEMPLATE,
        end_of_turn="<end_of_utterance>", image_token="<image>", processor_class="SmolVLMProcessor",
        has_video_processor=True, pixel_kwargs=_longest_edge,
    ),
    Family(
        name="gemma3", model_class="Gemma3ForConditionalGeneration", config_type="gemma3",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_tower\.",
        chat_template=gemma3(), end_of_turn="<end_of_turn>", image_token="<start_of_image>",
        processor_class="Gemma3Processor",
        notes="fixed 896 px SigLIP tower (pan-and-scan off)",
    ),
]:
    FAMILIES.add(_fam.name, _fam)


def family_for_model_type(model_type: str) -> Family:
    """The family whose checkpoints carry ``config.model_type == model_type`` (exact match)."""
    for _, fam in FAMILIES.items():
        if fam.config_type == model_type:
            return fam
    raise ValueError(f"no medmat model family handles model_type {model_type!r} (known: "
                     f"{', '.join(sorted(f.config_type for _, f in FAMILIES.items()))})")
