"""The Hugging Face VLM backbone: one class, specialised per family (one subclass each).

``BACKBONES.get("qwen2-vl").load(path)`` loads any local HF checkpoint of that family
(``AutoModelForImageTextToText`` + ``AutoProcessor``) or a folder written by ``save``
(a LoRA adapter with its processor, or a fully fine-tuned model). Scoring reads the
next-token distribution after the generation prompt at the option letters' token ids,
which are derived from the chat template (see ``chat.derive_letter_tokens``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from medmat.io import read_json, write_json
from medmat.models.base import Backbone, FitCallback, FitResult, TrainConfig
from medmat.models.hf.families import FAMILIES, Family, family_for_model_type
from medmat.models.hf.supervision import Supervision, inspect_template
from medmat.records import VQAItem

META_FILE = "medmat_hf.json"
"""Written next to a saved backbone: family, method, where the base weights are."""


class LoadOptions(BaseModel):
    """Options of ``load`` (CLI: ``--option key=value``).

    min_pixels / max_pixels bound the image resolution where the family's processor
    supports it (Qwen: pixels; Idefics3/SmolVLM: max_pixels sets the longest edge); other
    families have a fixed input size. dtype 'auto' is bf16 on a bf16-capable GPU and
    float32 on CPU (bf16 is never used on CPU).
    """

    model_config = ConfigDict(extra="forbid")
    min_pixels: int | None = None
    max_pixels: int | None = None
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str | None = None
    attn_implementation: str | None = None


class HFBackbone(Backbone):
    """A transformers image-text-to-text model with its processor (see module docstring)."""

    name: ClassVar[str] = "hf"
    data_parallel: ClassVar[bool] = True  # the Trainer shards batches across ranks
    family: ClassVar[Family]

    def __init__(self, model: Any, processor: Any, options: LoadOptions, base: str | None, method: str | None = None):
        self.model = model
        self.processor = processor
        self.options = options
        self.base = base  # where the base weights live (adapters need them)
        self.method = method  # 'lora' | 'full' | None (untrained)
        self._letters = None
        # Image-resolution limits, passed on every processor call (not saved with the model).
        self.image_kwargs = self.family.pixel_kwargs(options.min_pixels, options.max_pixels,
                                                     getattr(processor.image_processor, "size", None))
        # The template training and inference use: the shipped one when its supervised span is
        # the answer + end of turn (or stops right before it), else the family's (supervision.py).
        self.supervision: Supervision = inspect_template(processor, self.family)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None, *, seed: int = 0, **kwargs: Any) -> "HFBackbone":
        """``seed`` is unused: an HF backbone always loads weights from a folder."""
        import torch
        from transformers import AutoConfig, AutoModelForImageTextToText

        from medmat.models.hf.processors import load_processor

        if path is None:
            raise ValueError(f"backbone {cls.name!r} needs a model folder (--model PATH): a local HF checkpoint; "
                             "medmat.models.tiny.build_tiny makes a tiny random one offline")
        opts = LoadOptions(**kwargs)
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"model folder {path} does not exist")
        meta = read_json(path / META_FILE) if (path / META_FILE).is_file() else {}
        adapter = (path / "adapter_config.json").is_file()
        base_path = Path(meta.get("base") or "") if adapter else path
        if adapter:
            if (path / "base").is_dir():
                base_path = path / "base"
            elif not meta.get("base"):
                base_path = Path(read_json(path / "adapter_config.json")["base_model_name_or_path"])
            if not base_path.is_dir():
                raise FileNotFoundError(f"{path} is a LoRA adapter whose base model {base_path} is missing")
        model_type = AutoConfig.from_pretrained(str(base_path)).model_type
        found = family_for_model_type(model_type)
        if found.name != cls.family.name and found.config_type != cls.family.config_type:
            raise ValueError(f"{path} holds a {found.name!r} model, not {cls.family.name!r}: use --backbone {found.name}")
        # Under `accelerate launch` every process loads onto its own GPU.
        local = os.environ.get("LOCAL_RANK", "0")
        device = opts.device or (f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        dtype = _dtype(opts.dtype, device)
        extra = {"attn_implementation": opts.attn_implementation} if opts.attn_implementation else {}
        model = AutoModelForImageTextToText.from_pretrained(str(base_path), dtype=dtype, **extra)
        if type(model).__name__ != cls.family.model_class:
            raise ValueError(f"{base_path} loads as {type(model).__name__}, family {cls.family.name!r} "
                             f"expects {cls.family.model_class}")
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
        model.to(device)
        model.eval()
        processor = load_processor(path, cls.family)
        return cls(model, processor, opts, base=str(base_path.resolve()), method=meta.get("method"))

    def save(self, out_dir: Path, save_base: bool = False) -> None:
        """Model (adapter or full weights) + processor + ``medmat_hf.json``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out_dir))
        self.save_extras(out_dir, save_base)

    def save_extras(self, out_dir: Path, save_base: bool = False) -> None:
        """Everything but the weights: processor, ``medmat_hf.json`` and, optionally, the base.

        An adapter is useless without its exact base weights; ``save_base`` copies the base
        folder too (needed when the base was randomly initialised or may move). Training
        saves the weights through the Trainer (which gathers FSDP/DeepSpeed shards) and
        calls this on the main process only.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        is_peft = hasattr(self.model, "peft_config")
        self.processor.save_pretrained(str(out_dir))
        base = self.base
        if is_peft and save_base and self.base and Path(self.base).resolve() != (out_dir / "base").resolve():
            # The base weights are exactly the folder the adapter was trained on: copy it
            # (peft-wrapped modules cannot be saved back as a plain base model).
            import shutil

            tmp = out_dir / ".base.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(self.base, tmp, ignore=shutil.ignore_patterns("checkpoints", "base", ".*"))
            shutil.rmtree(out_dir / "base", ignore_errors=True)
            tmp.rename(out_dir / "base")
            base = "base"
        elif is_peft and save_base:
            base = "base"
        write_json(out_dir / META_FILE, {"family": self.family.name, "method": self.method,
                                         "base": str(out_dir / "base") if base == "base" else base,
                                         "base_saved": bool(is_peft and save_base)})

    # -- training ---------------------------------------------------------------------
    def fit(self, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
            callbacks: Sequence[FitCallback] = ()) -> FitResult:
        from transformers import set_seed

        from medmat.models.hf.training import HFTrainOptions, prepare_model, run_sft

        if cfg.method == "grpo":
            from medmat.models.hf.grpo import fit_grpo

            return fit_grpo(self, train, Path(store_root), Path(out_dir), cfg, callbacks)
        opts = HFTrainOptions(**cfg.extra)
        self.supervision.check_trainable()
        set_seed(cfg.seed)  # before LoRA initialises its weights
        self.model = prepare_model(self.model, self.family, cfg.method, opts)
        self.method = cfg.method
        return run_sft(self, train, Path(store_root), Path(out_dir), cfg, opts, callbacks)

    # -- inference --------------------------------------------------------------------
    @property
    def letter_tokens(self) -> Any:
        from medmat.models.hf.chat import derive_letter_tokens

        if self._letters is None:
            self._letters = derive_letter_tokens(self.processor)
        return self._letters

    def _device(self) -> Any:
        return next(self.model.parameters()).device

    def _batches(self, items: Sequence[VQAItem], store_root: Path, batch_size: int) -> Any:
        from medmat.models.hf.chat import encode, item_messages

        kw = self.image_kwargs
        for i in range(0, len(items), max(1, batch_size)):
            chunk = items[i:i + batch_size]
            batch = encode(self.processor, [item_messages(it, store_root, False) for it in chunk], train=False,
                           image_kwargs=kw)
            dev = self._device()
            yield chunk, {k: (v.to(dev) if hasattr(v, "to") else v) for k, v in batch.items()}

    def score_options(self, items: Sequence[VQAItem], store_root: Path, batch_size: int = 8) -> list[list[float]]:
        import torch

        from medmat.models.hf.chat import check_scores, letter_scores

        out: list[list[float]] = []
        self.model.eval()
        with torch.no_grad():
            for chunk, batch in self._batches(items, store_root, batch_size):
                logits = self.model(**batch, logits_to_keep=1).logits[:, -1, :]
                out.extend(letter_scores(logits, self.letter_tokens, [it.n_options for it in chunk]))
        check_scores(out)
        return out

    def stop_token_ids(self) -> list[int]:
        """Generation stops on the model's EOS ids and on the family's end-of-turn token."""
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        return list(dict.fromkeys([*eos, self.supervision.end_of_turn_id]))

    def generate_tokens(self, items: Sequence[VQAItem], store_root: Path, max_new_tokens: int = 16,
                        batch_size: int = 8) -> list[list[int]]:
        """Greedy continuation ids per item, up to and including the first stop token (no padding)."""
        import torch

        tok = self.processor.tokenizer
        stop = self.stop_token_ids()
        out: list[list[int]] = []
        self.model.eval()
        with torch.no_grad():
            for _, batch in self._batches(items, store_root, batch_size):
                n_prompt = batch["input_ids"].shape[1]
                gen = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                          eos_token_id=stop, pad_token_id=tok.pad_token_id)
                for row in gen[:, n_prompt:].tolist():
                    cut = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
                    out.append(row[:cut])
        return out

    def generate(self, items: Sequence[VQAItem], store_root: Path, max_new_tokens: int = 16,
                 batch_size: int = 8) -> list[str]:
        tok = self.processor.tokenizer
        ids = self.generate_tokens(items, store_root, max_new_tokens=max_new_tokens, batch_size=batch_size)
        return [s.strip() for s in tok.batch_decode(ids, skip_special_tokens=True)]


def _dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        cuda_bf16 = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if device == "cpu" and name != "float32":
        raise ValueError(f"dtype {name} on CPU is not supported here: use float32")
    return getattr(torch, name)


def _family_classes() -> None:
    """One module-level subclass per family (``medmat.models.BACKBONES`` names them lazily)."""
    for fam_name, fam in FAMILIES.items():
        globals()[fam.backbone_class] = type(fam.backbone_class, (HFBackbone,), {
            "name": fam_name, "family": fam, "__module__": __name__,
            "__doc__": f"HF backbone of the {fam_name} family."})


_family_classes()

