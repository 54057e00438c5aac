"""Model families: everything that differs between Hugging Face VLMs, as data.

Code elsewhere in ``medmat.models.hf`` never checks a model's name; it asks the family
record instead (timm-style registry, one small dataclass per family). A family says:
  * which transformers class implements it (checked against the loaded model),
  * which processor class to rebuild without its video processor when torchvision is
    missing (transformers cannot build Qwen/SmolVLM video processors without it),
  * which modules LoRA adapts (the language model only, by regex: Qwen2.5-VL's vision
    MLP also has gate/up/down_proj, so plain module names would adapt the vision tower),
  * which parameters form the vision tower (frozen by default),
  * a chat template with ``{% generation %}`` markers, used when the shipped template
    lacks them: the assistant mask (loss on the answer only) depends on those markers,
  * how image-resolution limits are passed to the image processor.

This module imports nothing heavy: the CLI and registry listing stay fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from medmat.registry import Registry

_LM_PROJ = r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def chat_template(
    *, bos: bool, system: str, user: str, image: str, user_end: str, assistant: str,
    answer_prefix: str, turn_end: str, after_turn: str,
) -> str:
    """A Jinja chat template for single-image questions with generation markers.

    Only user and assistant turns are rendered (medmat never sends a system turn; the
    family's default system prompt, if any, is emitted before the first turn).

    Supervised tokens are ``answer_prefix + answer + turn_end``: the answer and the end of
    its turn (so the model learns to stop). ``after_turn`` is emitted outside the markers
    with ``{{ }}`` because Jinja's trim_blocks would swallow a literal newline there.
    """
    q = lambda s: "{{ " + repr(s) + " }}"  # noqa: E731 - a Jinja string literal
    text_loop = (
        "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
        "{%- for c in message['content'] -%}"
        "{%- if c['type'] == 'image' -%}" + q(image) +
        "{%- elif c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
    )
    answer_text = (
        "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
        "{%- for c in message['content'] -%}{%- if c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
    )
    return (
        ("{{- bos_token -}}" if bos else "")
        + "{%- for message in messages -%}"
        + ("{%- if loop.first -%}" + q(system) + "{%- endif -%}" if system else "")
        + "{%- if message['role'] == 'assistant' -%}" + q(assistant)
        + "{% generation %}" + q(answer_prefix) + answer_text + q(turn_end) + "{% endgeneration %}"
        + (q(after_turn) if after_turn else "")
        + "{%- else -%}" + q(user) + text_loop + q(user_end) + "{%- endif -%}"
        + "{%- endfor -%}"
        + "{%- if add_generation_prompt -%}" + q(assistant) + "{%- endif -%}"
    )


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
    chat_template: str
    image_token: str
    processor_class: str  # class to rebuild without a video processor when it cannot be built
    has_video_processor: bool = False
    pixel_kwargs: Callable[[int | None, int | None, Any], dict[str, Any]] = _no_pixels  # (min, max, current size)
    lora_extra: tuple[str, ...] = ()  # other language-model module names LoRA may adapt
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def backbone_class(self) -> str:
        """Name of this family's Backbone class in ``medmat.models.hf.backbone``."""
        return "HFBackbone_" + re.sub(r"\W", "_", self.name)

    def lora_target_regex(self) -> str:
        """peft ``target_modules`` regex (full match): language model attention + MLP only."""
        names = _LM_PROJ if not self.lora_extra else "(" + "|".join([_LM_PROJ[1:-1], *self.lora_extra]) + ")"
        return rf".*{self.lm_prefix}\.\d+\.(self_attn|mlp|cross_attn)\.{names}"


FAMILIES: Registry[Family] = Registry("model family")

_QWEN_TEMPLATE = chat_template(
    bos=False, system="<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
    user="<|im_start|>user\n", image="<|vision_start|><|image_pad|><|vision_end|>", user_end="<|im_end|>\n",
    assistant="<|im_start|>assistant\n", answer_prefix="", turn_end="<|im_end|>", after_turn="\n",
)
_LLAMA3_TEMPLATE = chat_template(
    bos=True, system="", user="<|start_header_id|>user<|end_header_id|>\n\n", image="<|image|>",
    user_end="<|eot_id|>", assistant="<|start_header_id|>assistant<|end_header_id|>\n\n", answer_prefix="",
    turn_end="<|eot_id|>", after_turn="",
)
_IDEFICS_TEMPLATE = chat_template(
    bos=True, system="", user="User:", image="<image>", user_end="<end_of_utterance>\n", assistant="Assistant:",
    answer_prefix=" ", turn_end="<end_of_utterance>", after_turn="\n",
)

for _fam in [
    Family(
        name="qwen2-vl", model_class="Qwen2VLForConditionalGeneration", config_type="qwen2_vl",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)visual\.", chat_template=_QWEN_TEMPLATE,
        image_token="<|image_pad|>", processor_class="Qwen2VLProcessor", has_video_processor=True,
        pixel_kwargs=_qwen_pixels, notes="min/max pixels bound the number of image tokens (28x28 pixels each)",
    ),
    Family(
        name="qwen2.5-vl", model_class="Qwen2_5_VLForConditionalGeneration", config_type="qwen2_5_vl",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)visual\.", chat_template=_QWEN_TEMPLATE,
        image_token="<|image_pad|>", processor_class="Qwen2_5_VLProcessor", has_video_processor=True,
        pixel_kwargs=_qwen_pixels, notes="vision MLP has gate/up/down_proj too: the regex keeps LoRA off it",
    ),
    Family(
        name="llava", model_class="LlavaForConditionalGeneration", config_type="llava",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_tower\.",
        chat_template=chat_template(
            bos=True, system="", user="USER: ", image="<image>\n", user_end=" ", assistant="ASSISTANT:",
            answer_prefix=" ", turn_end="</s>", after_turn="",
        ),
        image_token="<image>", processor_class="LlavaProcessor",
        notes="LLaVA-1.5 (llava-hf): fixed 336 px CLIP tower; ' A' after 'ASSISTANT:'",
    ),
    Family(
        name="llama-3.2-vision", model_class="MllamaForConditionalGeneration", config_type="mllama",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_model\.", chat_template=_LLAMA3_TEMPLATE,
        image_token="<|image|>", processor_class="MllamaProcessor",
        notes="cross-attention layers carry the image; LoRA adapts their projections too",
    ),
    Family(
        name="idefics3", model_class="Idefics3ForConditionalGeneration", config_type="idefics3",
        lm_prefix=r"text_model\.layers", vision_regex=r"(^|\.)vision_model\.", chat_template=_IDEFICS_TEMPLATE,
        image_token="<image>", processor_class="Idefics3Processor", pixel_kwargs=_longest_edge,
    ),
    Family(
        name="smolvlm", model_class="SmolVLMForConditionalGeneration", config_type="smolvlm",
        lm_prefix=r"text_model\.layers", vision_regex=r"(^|\.)vision_model\.", chat_template=_IDEFICS_TEMPLATE,
        image_token="<image>", processor_class="SmolVLMProcessor", has_video_processor=True,
        pixel_kwargs=_longest_edge,
    ),
    Family(
        name="gemma3", model_class="Gemma3ForConditionalGeneration", config_type="gemma3",
        lm_prefix=r"language_model\.layers", vision_regex=r"(^|\.)vision_tower\.",
        chat_template=chat_template(
            bos=True, system="", user="<start_of_turn>user\n", image="<start_of_image>", user_end="<end_of_turn>\n",
            assistant="<start_of_turn>model\n", answer_prefix="", turn_end="<end_of_turn>", after_turn="\n",
        ),
        image_token="<start_of_image>", processor_class="Gemma3Processor",
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
