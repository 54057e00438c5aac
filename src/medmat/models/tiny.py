"""Tiny, randomly initialised VLMs of every family, built offline (tests and benchmarks).

Like timm's ``test_*`` variants, these go through the real code path: a tiny model and
its processor are saved with ``save_pretrained`` and loaded back through
``AutoModelForImageTextToText`` / ``AutoProcessor`` exactly like a downloaded checkpoint.
No hub is needed: the tokenizer is a byte-level BPE trained here in ~0.1 s on synthetic
text, with the special tokens each family's processor expects. Images are small (28-56
px) so that each image costs 4 tokens. ``build_tiny`` is deterministic: same family and
seed give the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from medmat.registry import Registry
from medmat.models.hf.families import FAMILIES

TINY_BUILDERS: Registry[Callable[[int], tuple[Any, Any]]] = Registry("tiny model builder")
"""family name -> ``builder(seed) -> (model, processor)``."""

NOT_BUILDABLE: dict[str, str] = {}
"""Families registered in FAMILIES that cannot be built tiny offline, with the reason."""

_WORDS = (
    "User Assistant USER ASSISTANT system user assistant model Answer answer the option's letter from "
    "given choices directly. Which of the following is shown in this image ? What is the diagnosis "
    "modality area task CT MRI X-Ray Lung Brain Chest COVID-19 Classification normal abnormal tumor "
    "pneumonia glioma meningioma Options Question image You are a helpful assistant. "
    "A B C D A: B: C: D: 0 1 2 3 4 5 6 7 8 9"
)


def tiny_tokenizer(specials: list[str], *, bos: str, eos: str, pad: str, vocab_size: int = 600,
                   extra: dict[str, str] | None = None, add_bos: bool = False) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on synthetic text, with ``specials``.

    ``extra`` names special tokens the processor looks up as attributes (``image_token``,
    ``boi_token`` ...); transformers saves them as ``extra_special_tokens``. ``add_bos``:
    encoding with special tokens prepends ``bos``, as Llama-2 tokenizers do (llava-hf's
    chat template writes no BOS and relies on it).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    all_specials = list(dict.fromkeys([bos, eos, pad, *specials, *(extra or {}).values()]))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=all_specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = [_WORDS] + [f"{w} {i}" for i, w in enumerate(_WORDS.split())]
    tok.train_from_iterator(lines * 4, trainer=trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=None,
        extra_special_tokens=dict(extra or {}),
    )
    fast.add_special_tokens({"additional_special_tokens": [s for s in specials if s not in (extra or {}).values()]})
    return fast


def _llama_text(vocab: int, pad: int, **over: Any) -> dict[str, Any]:
    cfg = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, pad_token_id=pad)
    cfg.update(over)
    return cfg


@TINY_BUILDERS.register("qwen2-vl")
def _qwen2_vl(seed: int) -> tuple[Any, Any]:
    return _qwen(seed, "Qwen2VLConfig", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor", "qwen2-vl")


@TINY_BUILDERS.register("qwen2.5-vl")
def _qwen2_5_vl(seed: int) -> tuple[Any, Any]:
    return _qwen(seed, "Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor", "qwen2.5-vl")


def _qwen(seed: int, config_cls: str, model_cls: str, proc_cls: str, family: str) -> tuple[Any, Any]:
    import torch
    import transformers
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from medmat.models.hf.processors import without_video

    specials = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok = tiny_tokenizer(specials, bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>")
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    vocab = len(tok)
    text = _llama_text(vocab, tok.pad_token_id, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                                   "mrope_section": [2, 3, 3]},
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    vision: dict[str, Any] = dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, patch_size=14,
                                  spatial_merge_size=2, temporal_patch_size=2)
    if family == "qwen2.5-vl":
        vision.update(intermediate_size=64, out_hidden_size=32, fullatt_block_indexes=[0], window_size=56)
        vision.pop("embed_dim")
    cfg = getattr(transformers, config_cls)(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = getattr(transformers, model_cls)(cfg)
    ip = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 56 * 56})
    proc = without_video(proc_cls)(image_processor=ip, tokenizer=tok, chat_template=FAMILIES.get(family).chat_template)
    return model, proc


@TINY_BUILDERS.register("llava")
def _llava(seed: int) -> tuple[Any, Any]:
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = tiny_tokenizer(["<image>"], bos="<s>", eos="</s>", pad="<pad>", add_bos=True)
    cfg = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=28, patch_size=14, projection_dim=32),
        text_config=dict(model_type="llama", **_llama_text(len(tok), tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                                          eos_token_id=tok.eos_token_id)),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=4,
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    ip = CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=FAMILIES.get("llava").chat_template)
    return model, proc


def _idefics_like(seed: int, family: str) -> tuple[Any, Any]:
    import torch
    import transformers

    from medmat.models.hf.processors import without_video

    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    # The checkpoints' BOS, which their chat templates write first: Llama 3's for Idefics3, SmolLM2's for SmolVLM.
    bos = "<|begin_of_text|>" if family == "idefics3" else "<|im_start|>"
    tok = tiny_tokenizer(specials, bos=bos, eos="<end_of_utterance>", pad="<|finetune_right_pad_id|>")
    prefix = "Idefics3" if family == "idefics3" else "SmolVLM"
    cfg = getattr(transformers, f"{prefix}Config")(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(model_type="llama", **_llama_text(len(tok), tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                                          eos_token_id=tok.eos_token_id)),
        image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(cfg)
    ip_mod = __import__(f"transformers.models.{prefix.lower()}.image_processing_pil_{prefix.lower()}",
                        fromlist=[f"{prefix}ImageProcessorPil"])
    ip = getattr(ip_mod, f"{prefix}ImageProcessorPil")(do_image_splitting=False, size={"longest_edge": 32},
                                                      max_image_size={"longest_edge": 32})
    proc_cls = transformers.Idefics3Processor if family == "idefics3" else without_video("SmolVLMProcessor")
    proc = proc_cls(image_processor=ip, tokenizer=tok, image_seq_len=4, chat_template=FAMILIES.get(family).chat_template)
    return model, proc


TINY_BUILDERS.add("idefics3", lambda seed: _idefics_like(seed, "idefics3"))
TINY_BUILDERS.add("smolvlm", lambda seed: _idefics_like(seed, "smolvlm"))


@TINY_BUILDERS.register("gemma3")
def _gemma3(seed: int) -> tuple[Any, Any]:
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tok = tiny_tokenizer(["<start_of_turn>", "<end_of_turn>"], bos="<bos>", eos="<eos>", pad="<pad>", extra=extra)
    cfg = Gemma3Config(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
                         sliding_window=64, query_pre_attn_scalar=16, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        mm_tokens_per_image=4, boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"),
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(cfg)
    ip = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    proc = Gemma3Processor(image_processor=ip, tokenizer=tok, image_seq_length=4,
                           chat_template=FAMILIES.get("gemma3").chat_template)
    return model, proc


@TINY_BUILDERS.register("llama-3.2-vision")
def _mllama(seed: int) -> tuple[Any, Any]:
    import torch
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    specials = ["<|image|>", "<|python_tag|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok = tiny_tokenizer(specials, bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|finetune_right_pad_id|>")
    cfg = MllamaConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                           attention_heads=2, image_size=28, patch_size=14, max_num_tiles=1,
                           intermediate_layers_indices=[0], vision_output_dim=64, supported_aspect_ratios=[[1, 1]]),
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, cross_attention_layers=[1],
                         max_position_embeddings=256, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        image_token_index=tok.convert_tokens_to_ids("<|image|>"),
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(cfg)
    ip = MllamaImageProcessorPil(size={"height": 28, "width": 28}, max_image_tiles=1)
    proc = MllamaProcessor(image_processor=ip, tokenizer=tok, chat_template=FAMILIES.get("llama-3.2-vision").chat_template)
    return model, proc


def build_tiny(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build, save and return the folder of a tiny random ``family`` model and its processor.

    The folder is a normal HF checkpoint; ``BACKBONES.get(family).load(folder)`` loads it.
    """
    FAMILIES.get(family)  # clear error for an unknown family
    if family in NOT_BUILDABLE:
        raise ValueError(f"family {family!r} cannot be built tiny offline: {NOT_BUILDABLE[family]}")
    model, proc = TINY_BUILDERS.get(family)(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def write_tiny_store(root: str | Path, n_items: int = 8, seed: int = 0, splits: tuple[str, ...] = ("train", "test"),
                     subset: str = "t1") -> list[Any]:
    """A minimal VQA store (PNG images + items.jsonl), ``n_items`` per split, for tests and benchmarks.

    Two labels; the image's brightness tells them apart, so a model can learn them. The
    option order alternates, so the answer letter is not always "A". Images follow the
    store layout (images/<h[:2]>/<h>.png, named by the sha256 of their bytes).
    """
    import hashlib
    import io as _io

    import numpy as np
    from PIL import Image

    from medmat.io import write_bytes, write_jsonl
    from medmat.records import VQAItem, format_question_choice

    root = Path(root)
    rng = np.random.default_rng(seed)
    labels = ["normal", "tumor"]
    q = "Which finding does this CT image of the lung show?"
    items = []
    for split in splits:
        for i in range(n_items):
            k = i % 2
            arr = rng.integers(0, 100, (40, 48, 3)) + 120 * k
            buf = _io.BytesIO()
            Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG")
            data = buf.getvalue()
            h = hashlib.sha256(data).hexdigest()
            rel = f"images/{h[:2]}/{h}.png"
            write_bytes(root / rel, data)
            options = labels if (i // 2) % 2 == 0 else labels[::-1]
            answer_index = options.index(labels[k])
            items.append(VQAItem(
                id=len(items), caption="", image=rel, question=q, answer=labels[k],
                question_choice=format_question_choice(q, options), answer_choice="AB"[answer_index], data_no=subset,
                item_id=f"{subset}-{split}-{i:04d}", triplet="CT/Lung/Tumor Classification", subset=subset,
                split=split, dataset="tiny", source_record=f"{split}-{i}", options=options,
                answer_index=answer_index, labels=[labels[k]], image_hash=h,
            ))
    write_jsonl(root / "items.jsonl", [it.to_dict() for it in items])
    return items
