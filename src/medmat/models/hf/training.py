"""Supervised fine-tuning of an HF backbone with TRL's SFTTrainer (LoRA or full).

Why the pieces are as they are:
  * Loss on the answer and the end-of-turn token only: our collator (``chat.TrainCollator``)
    builds labels from the chat template's ``{% generation %}`` span, checked on the ids
    (``supervision.py``), so TRL's own dataset preparation is skipped
    (``skip_prepare_dataset``) and images are read lazily per batch. Which template
    trained, and why, goes to ``details["chat_template"]`` (train.json).
  * LoRA adapts the language model only (family regex); the vision tower is frozen by
    default in both methods. ``train_lm_head`` adds the output layer to the trained
    modules: a randomly initialised tiny model cannot fit anything without it.
  * Checkpoints every ``save_every`` steps under ``out_dir/checkpoints``; calling ``fit``
    again with the same ``out_dir`` resumes from the last one (optimizer, scheduler, RNG
    and data position included: that is the HF Trainer's checkpoint format).
  * bf16 only where the GPU supports it, never on CPU. Several GPUs/nodes: run the same
    command under ``accelerate launch`` (docs/training.md); the Trainer picks it up.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from medmat.models.base import FitCallback, FitResult, TrainConfig
from medmat.records import VQAItem

CHECKPOINTS = "checkpoints"


class HFTrainOptions(BaseModel):
    """HF-specific training settings, read from ``TrainConfig.extra`` (unknown keys are errors).

    lora_r / lora_alpha / lora_dropout   LoRA shape (method 'lora')
    train_lm_head      also train the output layer (LoRA: as modules_to_save)
    train_vision       unfreeze the vision tower (default frozen)
    gradient_checkpointing   trade compute for activation memory
    bf16               None = automatic (bf16-capable GPU only); True on CPU is an error
    save_base          save the base weights beside an adapter (needed for random bases)
    save_total_limit   checkpoints kept on disk
    logging_steps      how often the loss is logged
    """

    model_config = ConfigDict(extra="forbid")
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    train_lm_head: bool = False
    train_vision: bool = False
    gradient_checkpointing: bool = False
    bf16: bool | None = None
    save_base: bool = False
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    dataloader_num_workers: int = Field(0, ge=0)


def _bf16(requested: bool | None) -> bool:
    import torch

    capable = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if requested and not capable:
        raise ValueError("bf16 was requested but no bf16-capable GPU is available (bf16 is never used on CPU)")
    return capable if requested is None else requested


def prepare_model(model: Any, family: Any, method: str, opts: HFTrainOptions) -> Any:
    """Wrap with LoRA or unfreeze for full fine-tuning; the vision tower stays frozen by default."""
    vision = re.compile(family.vision_regex)
    if method == "lora":
        if hasattr(model, "peft_config"):  # an adapter loaded for more training
            for n, p in model.named_parameters():
                p.requires_grad = "lora_" in n or "modules_to_save" in n
            return model
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(
            r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
            target_modules=family.lora_target_regex(), modules_to_save=["lm_head"] if opts.train_lm_head else None,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lcfg)
        if opts.train_vision:
            for n, p in model.named_parameters():
                if vision.search(n):
                    p.requires_grad = True
        return model
    if method != "full":
        raise ValueError(f"unknown training method {method!r}: use 'lora' or 'full'")
    if hasattr(model, "peft_config"):
        raise ValueError("this backbone holds a LoRA adapter; full fine-tuning needs a plain model folder")
    for n, p in model.named_parameters():
        p.requires_grad = opts.train_vision or not vision.search(n)
    return model


def train_dataset(items: Sequence[VQAItem]) -> Any:
    """A datasets.Dataset of the fields the collator needs; images stay on disk until batched."""
    from datasets import Dataset

    rows = [{"item_id": it.item_id, "image": it.image, "question": it.question_choice, "answer": it.answer_choice}
            for it in items]
    if not rows:
        raise ValueError("no training items")
    return Dataset.from_list(rows)


def last_checkpoint(out_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    ckpt = out_dir / CHECKPOINTS
    if not ckpt.is_dir():
        return None
    last = get_last_checkpoint(str(ckpt))
    return Path(last) if last else None


def trainer_args(cfg: TrainConfig, opts: HFTrainOptions, out_dir: Path) -> dict[str, Any]:
    """The TrainingArguments every medmat HF run shares (SFT and GRPO): schedule, checkpoints, devices."""
    import torch

    return dict(
        output_dir=str(out_dir / CHECKPOINTS), seed=cfg.seed, data_seed=cfg.seed,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps if cfg.max_steps else -1,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type="linear", save_strategy="steps", save_steps=cfg.save_every,
        save_total_limit=opts.save_total_limit, logging_steps=opts.logging_steps, report_to=[],
        bf16=_bf16(opts.bf16), fp16=False, use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=opts.gradient_checkpointing,  # (TRL's own default would be on)
        activation_checkpointing_kwargs={"use_reentrant": False} if opts.gradient_checkpointing else None,
        remove_unused_columns=False, dataloader_num_workers=opts.dataloader_num_workers, disable_tqdm=True,
    )


def run_sft(backbone: Any, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
            opts: HFTrainOptions, callbacks: Sequence[FitCallback] = ()) -> FitResult:
    """Train ``backbone.model`` (already prepared by :func:`prepare_model`) with TRL's SFTTrainer,
    save the result (adapter or full model + processor) to ``out_dir``."""
    from trl import SFTConfig, SFTTrainer

    from medmat.models.hf.chat import TrainCollator

    args = SFTConfig(**trainer_args(cfg, opts, out_dir), dataset_kwargs={"skip_prepare_dataset": True},
                     max_length=None)
    trainer = SFTTrainer(
        model=backbone.model, args=args, train_dataset=train_dataset(train),
        data_collator=TrainCollator(backbone.processor, store_root, backbone.image_kwargs,
                                    backbone.supervision.end_of_turn_id),
        processing_class=backbone.processor,
    )
    return run_trainer(backbone, trainer, train, out_dir, cfg, opts, callbacks,
                       items_per_step=cfg.batch_size * cfg.grad_accum)


def run_trainer(backbone: Any, trainer: Any, train: Sequence[VQAItem], out_dir: Path, cfg: TrainConfig,
                opts: HFTrainOptions, callbacks: Sequence[FitCallback], items_per_step: float,
                during: Any = None) -> FitResult:
    """Run a built TRL trainer (resuming from ``out_dir/checkpoints``), save the model, return the facts.

    ``items_per_step``: training items one process consumes per optimizer step (GRPO: prompts).
    ``during``: a context manager held while training only (released before saving).
    """
    model = trainer.model
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    check_sharding(trainer.accelerator.distributed_type)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the log goes to train.json / the progress bar, not stdout
    for cb in callbacks:
        trainer.add_callback(_StepReporter(cb))
    resume = last_checkpoint(out_dir)
    t0 = time.perf_counter()
    with during or contextlib.nullcontext():
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - t0
    model.eval()
    trainer.save_model(str(out_dir))  # adapter or full weights; gathers FSDP/DeepSpeed shards
    if trainer.is_world_process_zero():
        backbone.save_extras(out_dir, save_base=opts.save_base)
    trainer.accelerator.wait_for_everyone()
    losses = [[int(h["step"]), float(h["loss"])] for h in trainer.state.log_history if "loss" in h]
    start = int(resume.name.rsplit("-", 1)[-1]) if resume else None
    steps = int(trainer.state.global_step)
    trained = steps - (start or 0)
    per_step = items_per_step * trainer.accelerator.num_processes
    return FitResult(
        steps=steps, total_steps=int(trainer.state.max_steps), n_train=len(train), seconds=round(seconds, 3),
        resumed_from=start, first_loss=losses[0][1] if losses else None, final_loss=FitResult.tail_mean(losses),
        items_per_s=round(trained * per_step / seconds, 2) if seconds > 0 and trained else None,
        losses=losses,
        details={"train_loss": float(result.training_loss), "bf16": bool(trainer.args.bf16), "method": cfg.method,
                 "options": opts.model_dump(), "params": n_params, "trainable_params": n_trainable,
                 "family": backbone.family.name, "processes": trainer.accelerator.num_processes,
                 "chat_template": backbone.supervision.details()},
    )


def check_sharding(distributed_type: Any) -> None:
    """Refuse a launch that asks for FSDP or DeepSpeed but would not get it.

    accelerate (1.15) applies FSDP only to GPU-like process groups: on CPU processes the same
    launch silently runs plain DDP (every rank holds the whole model), which would claim a
    sharded run that never happened. (DeepSpeed does run on CPU processes, with its CPU
    accelerator.) The environment variables are the ones ``accelerate launch`` sets from
    its config file.
    """
    import os

    for name, var, wanted in (("FSDP", "ACCELERATE_USE_FSDP", "FSDP"), ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED", "DEEPSPEED")):
        got = str(getattr(distributed_type, "value", distributed_type)).upper()
        if os.environ.get(var, "false").lower() == "true" and got != wanted:
            raise ValueError(f"the launch asks for {name}, but accelerate runs this process as {got} "
                             f"(accelerate applies FSDP to GPU processes only; on CPU processes it would "
                             "silently run DDP): use a DDP config (examples/accelerate/ddp-cpu.yaml) or GPUs")


def _StepReporter(callback: FitCallback) -> Any:
    """A TrainerCallback that forwards (step, max_steps, last loss) to a medmat FitCallback."""
    from transformers import TrainerCallback

    class StepReporter(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs and state.is_world_process_zero:
                callback.on_step(state.global_step, state.max_steps, float(logs["loss"]))

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.is_world_process_zero:
                callback.on_step(state.global_step, state.max_steps, None)

    return StepReporter()
