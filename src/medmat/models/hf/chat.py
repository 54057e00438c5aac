"""Chat formatting of Med-MAT items, batch encoding with label masks, and letter tokens.

One function turns a VQAItem into chat messages; every consumer (training, scoring,
generation, letter-token derivation) goes through it so prompts cannot drift apart.
Encoding uses the processor's ``apply_chat_template`` on a batch of conversations, which
expands image placeholders and, with ``return_assistant_tokens_mask``, marks the tokens
inside the template's ``{% generation %}`` span: the labels are exactly the answer and
the end-of-turn token (checked on the ids, ``supervision.supervised_labels``), everything
else is -100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from medmat.models.hf.supervision import IGNORE_INDEX, supervised_labels  # noqa: F401 (IGNORE_INDEX re-exported)
from medmat.records import LETTERS, VQAItem


def open_image(path: Path) -> Any:
    """The item's image as RGB PIL (medical images are often L/I;16/CMYK; models want RGB)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None


def messages(question: str, image: Any, answer: str | None = None) -> list[dict[str, Any]]:
    """A one-turn conversation: user (image, question), and the assistant's answer if given."""
    conv: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "image", "image": image},
                                                               {"type": "text", "text": question}]}]
    if answer is not None:
        conv.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return conv


def item_messages(item: VQAItem, store_root: Path, with_answer: bool) -> list[dict[str, Any]]:
    return messages(item.question_choice, open_image(Path(store_root) / item.image),
                    item.answer_choice if with_answer else None)


def answer_text(conversation: list[dict[str, Any]]) -> str:
    """The text of the conversation's last assistant turn (what training supervises)."""
    turns = [m for m in conversation if m["role"] == "assistant"]
    if not turns:
        raise ValueError("a training conversation needs an assistant turn (the answer)")
    content = turns[-1]["content"]
    return content if isinstance(content, str) else "".join(c["text"] for c in content if c.get("type") == "text")


def encode(processor: Any, conversations: list[list[dict[str, Any]]], *, train: bool,
           image_kwargs: dict[str, Any] | None = None, end_of_turn_id: int | None = None) -> dict[str, Any]:
    """Tensors for a batch. Training: right padded with ``labels``; inference: left padded prompts.

    Training needs the family's ``end_of_turn_id``: every label span must be the answer
    followed by it (``supervision.supervised_labels``). Padding side is not saved with
    processors, so it is set on every call.
    """
    if train and end_of_turn_id is None:
        raise ValueError("training batches need the family's end-of-turn token id (end_of_turn_id)")
    pk: dict[str, Any] = {"padding": True, "padding_side": "right" if train else "left", **(image_kwargs or {})}
    batch = processor.apply_chat_template(
        conversations, tokenize=True, return_dict=True, return_tensors="pt",
        add_generation_prompt=not train, return_assistant_tokens_mask=train, processor_kwargs=pk,
    )
    batch = dict(batch)
    if train:
        tok = processor.tokenizer
        batch["labels"] = supervised_labels(
            batch["input_ids"], batch.pop("assistant_masks"), [answer_text(c) for c in conversations],
            int(end_of_turn_id), lambda ids: tok.decode(ids, skip_special_tokens=False))  # type: ignore[arg-type]
    return batch


@dataclass
class TrainCollator:
    """Collates dataset rows (question, image path, answer letter) into a training batch; images are read here."""

    processor: Any
    store_root: Path
    image_kwargs: dict[str, Any] | None = None
    end_of_turn_id: int | None = None

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        convs = [messages(r["question"], open_image(Path(self.store_root) / r["image"]), r["answer"]) for r in rows]
        return encode(self.processor, convs, train=True, image_kwargs=self.image_kwargs,
                      end_of_turn_id=self.end_of_turn_id)


@dataclass(frozen=True)
class LetterTokens:
    """Token ids that mean "the answer is <letter>" right after the generation prompt."""

    ids: dict[str, tuple[int, ...]]  # letter -> token ids (the template's form first)
    forms: dict[str, tuple[str, ...]]  # letter -> token strings, for reports and tests


def derive_letter_tokens(processor: Any, letters: str = LETTERS) -> LetterTokens:
    """Letter token ids as the chat template writes them after the assistant header.

    The template is rendered with assistant answers "A", "B" ...; the token covering the
    answer's first character is the one the model emits there (with byte-level BPE,
    "ASSISTANT:" followed by " A" gives the token " A", not "A"). The other form ("A" vs
    " A") is added when it is a single token, so scores are robust to either habit; the
    scorer combines the forms with logsumexp.
    """
    tok = processor.tokenizer
    ids: dict[str, tuple[int, ...]] = {}
    forms: dict[str, tuple[str, ...]] = {}
    renders = {}
    for letter in letters:
        text = processor.apply_chat_template(messages("Q", None, letter), tokenize=False)
        renders[letter] = text if isinstance(text, str) else text[0]
    for letter in letters:
        text = renders[letter]
        other = renders[letters[1] if letter == letters[0] else letters[0]]
        pos = next(i for i, (a, b) in enumerate(zip(text, other)) if a != b)
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        hit = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if s <= pos < e]
        if not hit:
            raise ValueError(f"letter {letter!r} is not covered by any token of the rendered chat template")
        first = enc["input_ids"][hit[0]]
        found = [first]
        form = tok.decode([first])
        alt = " " + letter if form == letter else (letter if form.strip() == letter else None)
        if alt is not None:
            alt_ids = tok(alt, add_special_tokens=False)["input_ids"]
            if len(alt_ids) == 1 and alt_ids[0] not in found:
                found.append(alt_ids[0])
        ids[letter] = tuple(found)
        forms[letter] = tuple(tok.decode([i]) for i in found)
    return LetterTokens(ids=ids, forms=forms)


def letter_scores(last_logits: Any, letter_tokens: LetterTokens, n_options: Sequence[int]) -> list[list[float]]:
    """Per item, log-softmax over its own option letters of the next-token logits."""
    import torch

    logp = torch.log_softmax(last_logits.float(), dim=-1)
    out: list[list[float]] = []
    for row, n in zip(logp, n_options):
        per_letter = torch.stack([torch.logsumexp(row[list(letter_tokens.ids[L])], dim=0) for L in LETTERS[:n]])
        out.append([float(x) for x in torch.log_softmax(per_letter, dim=0)])
    return out


def check_scores(scores: list[list[float]]) -> None:
    for s in scores:
        if any(math.isnan(x) for x in s):
            raise FloatingPointError("NaN option score: the model's logits are not finite")
