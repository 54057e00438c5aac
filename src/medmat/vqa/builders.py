"""Question builders by name: how a subset's records become items (``SubsetSpec.builder``).

A subset names its builder in the catalog (``builder:`` of a subset entry) or a build's
settings override it per subset (``BuildSettings.builders``); the default follows the
subset's kind (``DEFAULT_BUILDERS``). store.json records the builder of every subset
that does not use ``choice``. Tests iterate over this registry, so every builder is
checked for determinism and letter balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from medmat.records import LabeledRecord, Skip, VQAItem
from medmat.registry import Registry
from medmat.vqa.box_questions import build_box_choice, build_grounding
from medmat.vqa.builder import SubsetSpec, build_items
from medmat.vqa.presence import build_count, build_presence

BuildFn = Callable[[Iterable[LabeledRecord], SubsetSpec, dict[str, str], int], tuple[list[VQAItem], list[Skip]]]


@dataclass(frozen=True)
class QuestionBuilder:
    """One way of asking about a subset's images.

    kind         the ``VQAItem.kind`` of its items
    needs_boxes  whether it reads ``LabeledRecord.boxes`` (records without are skipped)
    summary      one line for docs and ``--help``
    """

    name: str
    build: BuildFn
    kind: str
    needs_boxes: bool
    summary: str


QUESTION_BUILDERS: Registry[QuestionBuilder] = Registry("question builder")
for _b in (
    QuestionBuilder("choice", build_items, "choice", False,
                    "which label fits the image? (classification; options are labels)"),
    QuestionBuilder("box-choice", build_box_choice, "box-choice", True,
                    "which box contains the finding? (options are boxes; answer a letter)"),
    QuestionBuilder("grounding", build_grounding, "grounding", True,
                    "give the finding's box (free-text box answer, scored by IoU)"),
    QuestionBuilder("presence", build_presence, "choice", True,
                    "is the finding in the image? (yes / no, from box annotations)"),
    QuestionBuilder("count", build_count, "choice", True,
                    "how many regions of the finding? (options are numbers, from box annotations)"),
):
    QUESTION_BUILDERS.add(_b.name, _b)

DEFAULT_BUILDERS = {"classification": "choice", "detection": "box-choice", "segmentation": "box-choice"}
"""Catalog subset kind -> the builder a subset of that kind uses unless it names one."""


def builder_for(subset_kind: str, builder: str | None = None) -> str:
    """The builder of a catalog subset: its own ``builder`` or the default of its kind."""
    name = builder or DEFAULT_BUILDERS.get(subset_kind, "choice")
    QUESTION_BUILDERS.get(name)  # an unknown name is an error naming the known ones
    return name


def build_questions(records: Iterable[LabeledRecord], spec: SubsetSpec, splits: dict[str, str], seed: int = 0
                    ) -> tuple[list[VQAItem], list[Skip]]:
    """The items of one subset, by the builder it names."""
    return QUESTION_BUILDERS.get(spec.builder).build(records, spec, splits, seed)
