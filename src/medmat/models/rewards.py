"""Verifiable rewards and the settings of the RL training method (``TrainConfig.method = "grpo"``).

Rewards are data, not code in a trainer: a run names the rewards it uses and their
weights (``extra: {rewards: {answer: 1.0, format: 0.2}}``); each name is an entry of
:data:`REWARDS`, a function ``(completion text, item) -> float``. Both RL trainers (TRL's
GRPOTrainer for HF backbones, the policy-gradient fit of the reference model) look the
names up here, so an answer is judged the same way whichever backbone produced it.

* ``answer``: 1 when the completion's answer is correct. What "correct" means depends on
  the item's kind (:func:`answer_kind`), looked up in :data:`ANSWER_CHECKS`: for
  single-choice items, the letter that medmat's robust answer parser reads
  (``medmat.answers``, the one evaluation uses) is the answer letter (``box-choice`` items
  too: their answer is a letter). Grounding items are judged by ``"box"``: the box
  ``medmat.boxes.parse_box`` reads (0-1000 integers, what their prompt asks for) counts
  when ``box_iou(pred, gold) >= IOU_THRESHOLD``, as the evaluator's box scorer does.
* ``format``: 1 when the parser reads any option letter at all (a grounding item: any box),
  right or wrong.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medmat.records import VQAItem
from medmat.answers import parse_answer
from medmat.boxes import IOU_THRESHOLD, hits, iou, parse_box  # noqa: F401 - IOU_THRESHOLD: its old home
from medmat.registry import Registry, UnknownNameError

RewardFn = Callable[[str, VQAItem], float]
AnswerCheck = Callable[[str, VQAItem], bool]

REWARDS: Registry[RewardFn] = Registry("reward")
"""name -> ``reward(completion, item) -> float``; run settings name them with weights."""

ANSWER_CHECKS: Registry[AnswerCheck] = Registry("answer check")
"""item kind (:func:`answer_kind`) -> ``correct(completion, item) -> bool``."""

FORMAT_CHECKS: Registry[AnswerCheck] = Registry("format check")
"""item kind (:func:`answer_kind`) -> ``readable(completion, item) -> bool`` (the format reward)."""

ANSWER_KINDS = {"choice": "choice", "box-choice": "choice", "grounding": "box"}
"""``VQAItem.kind`` -> the :data:`ANSWER_CHECKS` entry that judges it."""


def parsed_letter(completion: str, item: VQAItem) -> str | None:
    """The option letter medmat's answer parser reads in ``completion`` (None: invalid)."""
    return parse_answer(completion, item.options).letter


def answer_kind(item: VQAItem) -> str:
    """Which :data:`ANSWER_CHECKS` entry judges ``item`` (from ``item.kind``)."""
    try:
        return ANSWER_KINDS[item.kind]
    except KeyError:
        raise ValueError(f"item {item.item_id}: no answer check for item kind {item.kind!r} "
                         f"(known: {', '.join(sorted(ANSWER_KINDS))})") from None


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 for empty or disjoint boxes)."""
    return iou(a, b)


@ANSWER_CHECKS.register("choice")
def choice_correct(completion: str, item: VQAItem) -> bool:
    return parsed_letter(completion, item) == item.answer_choice


@ANSWER_CHECKS.register("box")
def box_correct(completion: str, item: VQAItem) -> bool:
    """The box read from ``completion`` overlaps the true box with IoU >= IOU_THRESHOLD."""
    if item.answer_box is None:
        raise ValueError(f"item {item.item_id} ({item.kind}) has no answer_box to check a box against")
    box = parse_box(completion).box
    return box is not None and hits(box_iou(box, tuple(item.answer_box)))  # type: ignore[arg-type]


@FORMAT_CHECKS.register("choice")
def choice_readable(completion: str, item: VQAItem) -> bool:
    return parsed_letter(completion, item) is not None


@FORMAT_CHECKS.register("box")
def box_readable(completion: str, item: VQAItem) -> bool:
    return parse_box(completion).valid


@REWARDS.register("answer")
def answer_reward(completion: str, item: VQAItem) -> float:
    """1.0 when the completion answers ``item`` correctly, else 0.0."""
    return 1.0 if ANSWER_CHECKS.get(answer_kind(item))(completion, item) else 0.0


@REWARDS.register("format")
def format_reward(completion: str, item: VQAItem) -> float:
    """1.0 when the parser reads an option letter (a grounding item: a box) in the completion, right or wrong."""
    return 1.0 if FORMAT_CHECKS.get(answer_kind(item))(completion, item) else 0.0


class RLSettings(BaseModel):
    """Settings of ``method: grpo`` shared by every backbone (``TrainConfig.extra``; unknown keys are errors).

    num_generations    group size G: completions sampled per prompt; advantages compare each
                       with the others of its group, so G >= 2
    beta               KL coefficient towards the model the run started from (0: no KL term)
    temperature        sampling temperature of the completions
    rewards            reward name -> weight (names from ``REWARDS``); the reward of a
                       completion is the weighted sum
    zero_reward_steps  stop when every reward was 0 for every completion of this many first
                       steps (nothing can be learned), warn when only some were; 0 disables
    """

    model_config = ConfigDict(extra="forbid")
    num_generations: int = Field(8, ge=1)
    beta: float = Field(0.0, ge=0.0)
    temperature: float = Field(1.0, gt=0.0)
    rewards: dict[str, float] = Field(default_factory=lambda: {"answer": 1.0})
    zero_reward_steps: int = Field(20, ge=0)

    @field_validator("num_generations")
    @classmethod
    def _group_of_two(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"num_generations (the group size) is {v}: group-relative advantages compare each "
                             "completion with the others sampled for the same prompt, so with one the advantage is "
                             "always 0 and nothing is learned; set num_generations to 2 or more (4-8 is usual)")
        return v

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("rewards is empty: name at least one, e.g. {answer: 1.0}")
        for name, weight in v.items():
            try:
                REWARDS.get(name)
            except UnknownNameError as e:
                raise ValueError(str(e)) from None
            if not math.isfinite(weight):
                raise ValueError(f"reward {name!r} has weight {weight}: weights must be finite numbers")
        if not any(w > 0 for w in v.values()):
            raise ValueError("no reward has a positive weight: the policy would be pushed away from every answer")
        return v

    def reward_fns(self) -> list[tuple[str, RewardFn, float]]:
        """``(name, function, weight)`` per reward, in the order the settings name them."""
        return [(name, REWARDS.get(name), w) for name, w in self.rewards.items()]


def prompts_per_step(completions: int, num_generations: int) -> int:
    """Prompts one optimizer step samples for: ``completions`` (batch_size x grad_accum x processes,
    which counts completions under grpo) must hold whole groups of ``num_generations``."""
    if completions % num_generations:
        raise ValueError(f"batch_size x grad_accum x processes = {completions} completions per step is not a multiple "
                         f"of num_generations = {num_generations}: every prompt needs its whole group in one step; "
                         f"set batch_size to a multiple of {num_generations} (batch_size counts completions under "
                         "grpo)")
    return completions // num_generations


class ZeroRewardError(ValueError):
    """Every reward stayed 0 through the first steps: advantages are all 0, training learns nothing."""


class ZeroRewardWatch:
    """Checks, once ``steps`` optimizer steps have run, which rewards were ever non-zero.

    ``update(step, means)`` takes the mean of each reward over the completions of a step.
    A run resumed past the check (``start >= steps``) is not checked again.
    """

    def __init__(self, settings: RLSettings, start: int = 0):
        self.steps = settings.zero_reward_steps
        self.names = list(settings.rewards)
        self.seen: set[str] = set()
        self.done = not self.steps or start >= self.steps

    def update(self, step: int, means: Mapping[str, float]) -> None:
        self.seen.update(n for n, v in means.items() if v is not None and not math.isnan(v) and v != 0.0)
        if self.done or step < self.steps:
            return
        self.done = True
        silent = [n for n in self.names if n not in self.seen]
        if len(silent) == len(self.names):
            raise ZeroRewardError(
                f"every reward ({', '.join(silent)}) was 0 for every completion of the first {self.steps} steps: the "
                "policy never wrote an answer the rewards accept, so every advantage is 0 and training changes "
                "nothing. Start from a model that already answers in the expected format (train a few steps with "
                "method lora or full first, or use an instruction-tuned checkpoint), raise temperature or "
                "num_generations, make sure max_completion_length leaves room for the answer, or set "
                "zero_reward_steps=0 to go on anyway")
        if silent:
            warnings.warn(f"reward(s) {', '.join(silent)} stayed 0 for every completion of the first {self.steps} "
                          "steps: they contribute nothing to the advantages; check their weights or the answer format",
                          stacklevel=2)
