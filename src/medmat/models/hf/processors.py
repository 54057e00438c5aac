"""Loading processors by path, with the one fallback torchvision's absence needs.

transformers builds the Qwen2-VL, Qwen2.5-VL and SmolVLM video processors with
torchvision; without it (medmat never installs torchvision: every available build is
CUDA-linked and breaks transformers' model imports) ``AutoProcessor`` fails on the video
half of a processor medmat never uses. We then rebuild the family's processor class
without its video attribute. Only that failure triggers the fallback: any other error
is the user's to see.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from medmat.models.hf.families import Family


class _NoVideo:
    """Stands in for a video processor that could not be built: no frame sampling."""

    num_frames = None
    fps = None

    def __bool__(self) -> bool:
        return False


@functools.lru_cache(maxsize=None)
def without_video(processor_class: str) -> type:
    """A subclass of ``transformers.<processor_class>`` whose only media are images."""
    import transformers

    base = getattr(transformers, processor_class)

    class _ImageOnly(base):  # type: ignore[misc, valid-type]
        # ProcessorMixin derives its sub-processors from this __init__ signature
        # (transformers 5): image processor and tokenizer, no video processor.
        # Some processors read video sampling defaults in apply_chat_template (SmolVLM):
        # a stub with no frame sampling stands in for the missing video processor.
        video_processor = _NoVideo()

        # transformers reads sub-processors off this signature and the saved init arguments
        # off its code object, so the optional arguments of the families handled here
        # (SmolVLM's image_seq_len) are spelt out; None means "the base class default".
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, image_seq_len=None,
                     **kwargs: Any):
            kwargs.pop("video_processor", None)
            if image_seq_len is not None:
                kwargs["image_seq_len"] = image_seq_len
            base.__init__(self, image_processor, tokenizer, video_processor=None, chat_template=chat_template, **kwargs)

    # Saved under the base class name, so the folder stays a normal checkpoint of the family.
    _ImageOnly.__name__ = processor_class
    _ImageOnly.__qualname__ = f"{processor_class}ImageOnly"
    return _ImageOnly


def _is_video_failure(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return "video" in text or "torchvision" in text


def load_processor(path: str | Path, family: Family, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained(path)``; image-only fallback when the video processor cannot be built."""
    from transformers import AutoProcessor

    try:
        proc = AutoProcessor.from_pretrained(str(path), **kwargs)
    except (ImportError, ValueError, TypeError, OSError, AttributeError) as e:
        if not (family.has_video_processor and _is_video_failure(e)):
            raise
        proc = None
    if proc is None or not hasattr(proc, "image_processor"):
        # AutoProcessor may also hand back the bare tokenizer when the processor failed.
        if not family.has_video_processor:
            raise ValueError(f"{path}: AutoProcessor gave {type(proc).__name__}, not an image-text processor")
        proc = without_video(family.processor_class).from_pretrained(str(path), **kwargs)
    return proc
