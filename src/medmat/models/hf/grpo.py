"""Reinforcement learning of an HF backbone with TRL's GRPOTrainer (``TrainConfig.method = "grpo"``).

Why the pieces are as they are:
  * The prompt is the item's ``question_choice`` with its image, built by ``chat.messages``
    and rendered by the processor's chat template with the generation prompt: exactly the
    prompt SFT trains and evaluation scores (the image is left as a placeholder that TRL
    fills from the ``image`` column, which it also needs for the forward pass).
  * Rewards are named in the settings (``models/rewards.py``); each becomes one TRL reward
    function that judges the decoded completion against its item, so TRL logs every reward
    on its own (``rewards/<name>/mean``) beside the weighted total (``reward``).
  * Completions end on the model's EOS ids and on the family's end-of-turn token (the token
    SFT teaches to stop on): they are on the model's generation config while GRPOTrainer is
    built, which keeps its own copy; the saved model's config is left as it was.
  * TRL calls the processor without medmat's per-call image limits (min/max pixels), so
    they are set on the image processor while training and restored before saving.
  * LoRA or full fine-tuning (``adapter``), with the same module choice as SFT
    (``training.prepare_model``); checkpoints, resume, progress and the saved folder are
    those of SFT (``training.run_trainer``).
  * ``batch_size`` counts completions, as in TRL: one optimizer step samples
    ``num_generations`` completions for each of ``batch_size * grad_accum * processes /
    num_generations`` prompts.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from pydantic import Field

from medmat.models.base import FitCallback, FitResult, TrainConfig
from medmat.models.hf.chat import answer_text, encode, messages, open_image
from medmat.models.hf.training import HFTrainOptions, prepare_model, run_trainer, trainer_args
from medmat.models.rewards import RLSettings, ZeroRewardWatch, prompts_per_step
from medmat.records import VQAItem
from medmat.runtime import world_size


class GRPOOptions(HFTrainOptions, RLSettings):
    """``TrainConfig.extra`` of ``method: grpo`` on an HF backbone: the SFT settings
    (``HFTrainOptions``), the RL settings (``RLSettings``) and

    adapter                  lora | full: what GRPO trains (LoRA adapters or all weights)
    max_completion_length    tokens sampled per completion at most (a letter needs 1-3)
    """

    adapter: Literal["lora", "full"] = "lora"
    max_completion_length: int = Field(16, ge=1)


def prompt_messages(question: str) -> list[dict[str, Any]]:
    """``chat.messages`` for the user turn, its image a placeholder (TRL fills it from the row's image)."""
    conv = messages(question, None)
    return [{**m, "content": [{k: v for k, v in c.items() if k != "image"} for c in m["content"]]} for m in conv]


class _Rows:
    """Dataset transform: the prompt and the image, read when a batch is drawn (not up front)."""

    def __init__(self, store_root: Path):
        self.store_root = store_root

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {"item_id": batch["item_id"], "prompt": [prompt_messages(q) for q in batch["question"]],
                "image": [open_image(self.store_root / p) for p in batch["image"]]}


def prompt_dataset(items: Sequence[VQAItem], store_root: Path) -> Any:
    from datasets import Dataset

    if not items:
        raise ValueError("no training items")
    rows = [{"item_id": it.item_id, "image": it.image, "question": it.question_choice} for it in items]
    return Dataset.from_list(rows).with_transform(_Rows(Path(store_root)))


class _Reward:
    """One named reward as a TRL reward function: (completions, item ids) -> floats."""

    def __init__(self, name: str, fn: Any, by_id: dict[str, VQAItem]):
        self.__name__ = name  # TRL logs rewards/<name>/mean
        self.fn, self.by_id = fn, by_id

    def __call__(self, prompts: list[Any], completions: list[Any], item_id: list[str], **_: Any) -> list[float]:
        texts = [c if isinstance(c, str) else answer_text(c) for c in completions]
        return [float(self.fn(t, self.by_id[i])) for t, i in zip(texts, item_id)]


def check_generation_prompt(processor: Any) -> None:
    """GRPO samples the answer after the template's generation prompt: a template without one is refused."""
    conv = messages("Q", None)
    with_prompt = processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    without = processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=False)
    if with_prompt == without:
        raise ValueError("the chat template writes no generation prompt (add_generation_prompt changes nothing), so "
                         "sampled answers would not start an assistant turn; use a template that opens the assistant "
                         "turn (give the processor a chat_template without {% generation %} markers to train with "
                         "medmat's family template, or fix the shipped one)")


@contextlib.contextmanager
def _stop_tokens(backbone: Any) -> Iterator[None]:
    """While GRPOTrainer is built (it reads them then): completions end on the end-of-turn token too."""
    gen = backbone.model.generation_config
    old = gen.eos_token_id
    gen.eos_token_id = backbone.stop_token_ids()
    try:
        yield
    finally:
        gen.eos_token_id = old


@contextlib.contextmanager
def _image_settings(backbone: Any) -> Iterator[None]:
    """While training: TRL calls the processor without medmat's per-call image limits, so set them on it."""
    ip = backbone.processor.image_processor
    old = {k: getattr(ip, k) for k in backbone.image_kwargs}
    for k, v in backbone.image_kwargs.items():
        setattr(ip, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(ip, k, v)


def check_model_inputs(backbone: Any, trainer_class: Any) -> None:
    """Refuse a family whose processor makes image inputs GRPOTrainer does not pass to the model.

    TRL recomputes log-probabilities with a fixed set of image inputs (the parameters of
    ``_get_per_token_logps_and_entropies``); Mllama's cross-attention masks are not among them.
    """
    import inspect

    from PIL import Image

    forward = getattr(trainer_class, "_get_per_token_logps_and_entropies", None)
    if forward is None:  # another TRL layout: nothing to compare against
        return
    passed = set(inspect.signature(forward).parameters) | {"input_ids", "attention_mask"}
    probe = encode(backbone.processor, [messages("Q", Image.new("RGB", (32, 32)))], train=False,
                   image_kwargs=backbone.image_kwargs)
    missing = sorted(set(probe) - passed)
    if missing:
        raise ValueError(f"TRL's GRPOTrainer does not pass {', '.join(missing)} to the model, which the "
                         f"{backbone.family.name} family needs for its images: GRPO cannot train this family with "
                         "this TRL version; use supervised fine-tuning (method lora or full)")


def fit_grpo(backbone: Any, train: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
             callbacks: Sequence[FitCallback] = ()) -> FitResult:
    """Train ``backbone`` with GRPO on ``train`` (resuming from ``out_dir/checkpoints``); save to ``out_dir``."""
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    opts = GRPOOptions(**cfg.extra)
    prompts_per_step(cfg.batch_size * cfg.grad_accum * world_size(), opts.num_generations)
    check_generation_prompt(backbone.processor)
    check_model_inputs(backbone, GRPOTrainer)
    set_seed(cfg.seed)  # before LoRA initialises its weights
    backbone.model = prepare_model(backbone.model, backbone.family, opts.adapter, opts)
    backbone.method = cfg.method
    by_id = {it.item_id: it for it in train}
    fns = opts.reward_fns()
    args = GRPOConfig(
        **trainer_args(cfg, opts, out_dir), num_generations=opts.num_generations, beta=opts.beta,
        temperature=opts.temperature, max_completion_length=opts.max_completion_length,
        reward_weights=[w for _, _, w in fns], disable_dropout=True, log_completions=False,
    )
    names = [name for name, _, _ in fns]
    with _stop_tokens(backbone):
        trainer = GRPOTrainer(
            model=backbone.model, args=args, train_dataset=prompt_dataset(train, store_root),
            reward_funcs=[_Reward(name, fn, by_id) for name, fn, _ in fns], processing_class=backbone.processor,
        )
    trainer.add_callback(_RunCallback(opts, names))
    result = run_trainer(backbone, trainer, train, out_dir, cfg, opts, callbacks,
                         items_per_step=cfg.batch_size * cfg.grad_accum / opts.num_generations,
                         during=_image_settings(backbone))
    result.details.update(reward_curves(trainer.state.log_history, names))
    result.details.update({"adapter": opts.adapter, "num_generations": opts.num_generations, "beta": opts.beta})
    return result


def reward_curves(log_history: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """``rewards`` (weighted total), ``reward_curves`` (per reward) and ``kl`` as ``[[step, value], ...]``."""
    def curve(key: str) -> list[list[float]]:
        return [[int(h["step"]), float(h[key])] for h in log_history if h.get(key) is not None]

    out: dict[str, Any] = {"rewards": curve("reward"),
                           "reward_curves": {n: curve(f"rewards/{n}/mean") for n in names}}
    if any("kl" in h for h in log_history):
        out["kl"] = curve("kl")
    return out


def _RunCallback(opts: GRPOOptions, names: list[str]) -> Any:
    """A TrainerCallback that feeds each logged step's reward means to a :class:`ZeroRewardWatch` and,
    at the end, drops the frozen adapter copy TRL adds as the KL reference (beta > 0), so the
    saved folder holds the trained adapter only."""
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        def __init__(self) -> None:
            self.watch: ZeroRewardWatch | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.watch = ZeroRewardWatch(opts, start=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and self.watch is not None and any(f"rewards/{n}/mean" in logs for n in names):
                self.watch.update(state.global_step, {n: logs.get(f"rewards/{n}/mean") for n in names})

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            if model is not None and "ref" in getattr(model, "peft_config", {}):
                model.delete_adapter("ref")

    return RunCallback()
