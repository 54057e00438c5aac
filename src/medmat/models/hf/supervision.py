"""What a fine-tuned model learns to stop on: one rule for every family and every template.

The supervised span of every training example is the answer followed by the family's
end-of-turn token (``Family.end_of_turn``, the token generation stops on). A model trained
on a span without it never learns to end its answer: harmless for option scoring, not
for free generation. The rule is checked twice, on token ids:

* when a backbone loads (:func:`inspect_template`): the template the checkpoint ships is
  rendered and tokenized on a probe conversation. medmat keeps it when its span is the
  answer + end of turn; keeps it and extends every span by one token when the span stops
  right before the end-of-turn token (a Qwen2-VL revision whose markers close before
  ``<|im_end|>``); replaces it with the family's template (``templates.py``, which renders
  prompts like the official one) when it has no ``{% generation %}`` markers or its span
  has no end-of-turn token at all (llava-hf supervises ``"A "``); and refuses to train
  with it, with the reason, when the span covers anything else (the checkpoint still
  loads and answers with its own template: scoring needs no supervised span);
* on every training batch (:func:`supervised_labels`), on the ids the processor produced
  (image placeholders expanded, padding added): each span must be the answer followed by
  the end-of-turn id, or training stops with the example's index and what it supervises.

What was decided is returned as a :class:`Supervision`; the trainer records it in
``train.json`` (``result.details.chat_template``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal, Sequence

IGNORE_INDEX = -100
PROBE_ANSWER = "A"
_PROBE = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which finding does the image show?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": PROBE_ANSWER}]},
]
_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")

Decode = Callable[[list[int]], str]


def has_generation_markers(template: str | None) -> bool:
    return bool(template) and _MARKER.search(template or "") is not None


class SpanError(ValueError):
    """A supervised span that is not the answer followed by the end-of-turn token."""


class MissingEndOfTurn(SpanError):
    """The span is the answer alone: the end-of-turn token is neither in it nor right after it."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # exclusive; the token before it is the end-of-turn token
    extended: bool  # the template's span stopped one token short and was extended


def find_span(ids: Sequence[int], mask: Sequence[int], answer: str, eot_id: int, decode: Decode) -> Span:
    """The supervised span of one tokenized example, checked against the rule (see module docstring)."""
    pos = [i for i, m in enumerate(mask) if m]
    if not pos:
        raise SpanError("supervises no token: its {% generation %} span is empty")
    start, end = pos[0], pos[-1] + 1
    shown = decode(list(ids[start:end]))
    if pos != list(range(start, end)):
        raise SpanError(f"supervises tokens that are not one contiguous span ({shown!r})")
    extended = False
    if ids[end - 1] != eot_id:
        if end < len(ids) and ids[end] == eot_id:
            end, extended = end + 1, True
        elif shown.strip() == answer.strip():
            raise MissingEndOfTurn(f"supervises {shown!r}, without the end-of-turn token after it")
        else:
            raise SpanError(f"supervises {shown!r}, which does not end with the end-of-turn token")
    body = decode(list(ids[start:end - 1]))
    if body.strip() != answer.strip():
        raise SpanError(f"supervises {decode(list(ids[start:end]))!r}, not the answer {answer!r} "
                        "followed by the end-of-turn token")
    return Span(start, end, extended)


def supervised_labels(input_ids: Any, masks: Any, answers: Sequence[str], eot_id: int, decode: Decode) -> Any:
    """Labels of a training batch: each example's span (answer + end of turn), everything else ignored."""
    import torch

    ids = torch.as_tensor(input_ids)
    masks = torch.as_tensor(masks)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for row, answer in enumerate(answers):
        try:
            span = find_span(ids[row].tolist(), masks[row].tolist(), answer, eot_id, decode)
        except SpanError as e:
            raise ValueError(f"training example {row} of the batch: the chat template {e} "
                             "(medmat trains on the answer followed by the end-of-turn token only)") from None
        labels[row, span.start:span.end] = ids[row, span.start:span.end]
    return labels


@dataclass(frozen=True)
class Supervision:
    """Which template a backbone trains with and what it supervises (recorded in train.json)."""

    end_of_turn: str
    end_of_turn_id: int
    template: Literal["shipped", "medmat"]
    action: Literal["kept", "extended", "replaced", "refused"]
    reason: str
    supervised: str  # the supervised text for the probe answer "A", end-of-turn token included

    def details(self) -> dict[str, Any]:
        return asdict(self)

    def check_trainable(self) -> None:
        """Training stops here, before any step, when the template's span breaks the rule."""
        if self.action == "refused":
            raise ValueError(self.reason)


def end_of_turn_id(tokenizer: Any, token: str) -> int:
    """The id of ``token``, which must be one token of this tokenizer (generation stops on it)."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == tokenizer.unk_token_id or tokenizer(token, add_special_tokens=False)["input_ids"] != [tid]:
        raise ValueError(f"the tokenizer has no single token {token!r}, the end-of-turn token of this family")
    return int(tid)


def _probe(tokenizer: Any, template: str, eot_id: int) -> tuple[Span, str]:
    from jinja2 import TemplateError

    try:
        out = tokenizer.apply_chat_template(_PROBE, chat_template=template, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
    except TemplateError as e:
        raise ValueError(f"the chat template fails on a one-image question: {e}") from None
    ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
    decode = lambda t: tokenizer.decode(t, skip_special_tokens=False)  # noqa: E731
    span = find_span(ids, mask, PROBE_ANSWER, eot_id, decode)
    return span, decode(ids[span.start:span.end])


def inspect_template(processor: Any, family: Any) -> Supervision:
    """Choose the template ``processor`` trains with (may replace ``processor.chat_template``)."""
    tok = processor.tokenizer
    eot = family.end_of_turn
    eot_id = end_of_turn_id(tok, eot)
    shipped = getattr(processor, "chat_template", None)
    if not shipped:
        return _replace(processor, family, eot_id, "the checkpoint ships no chat template")
    if not has_generation_markers(shipped):
        return _replace(processor, family, eot_id, "the shipped chat template has no {% generation %} markers "
                                                   "(the loss mask needs them)")
    try:
        span, text = _probe(tok, shipped, eot_id)
    except MissingEndOfTurn as e:
        return _replace(processor, family, eot_id, f"the shipped chat template {e} ({eot!r})")
    except SpanError as e:
        reason = (f"the chat template shipped with this {family.name} checkpoint {e}; medmat trains on the answer "
                  f"followed by {eot!r} only. Remove its {{% generation %}} markers to train with medmat's "
                  f"{family.name} template, or put them around the answer and {eot!r}")
        return Supervision(eot, eot_id, "shipped", "refused", reason, "")
    if span.extended:
        reason = f"the shipped chat template's span stops right before {eot!r}; every span is extended by it"
        return Supervision(eot, eot_id, "shipped", "extended", reason, text)
    return Supervision(eot, eot_id, "shipped", "kept", f"the shipped chat template supervises the answer and {eot!r}",
                       text)


def _replace(processor: Any, family: Any, eot_id: int, reason: str) -> Supervision:
    processor.chat_template = family.chat_template
    try:
        span, text = _probe(processor.tokenizer, family.chat_template, eot_id)
    except SpanError as e:
        raise ValueError(f"medmat's {family.name} chat template {e} with this checkpoint's tokenizer") from None
    if span.extended:
        raise ValueError(f"medmat's {family.name} chat template leaves {family.end_of_turn!r} out of its span")
    return Supervision(family.end_of_turn, eot_id, "medmat", "replaced", reason, text)
