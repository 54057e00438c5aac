"""Chat templates against the official checkpoints' formats, and the one supervision rule.

OFFICIAL holds, for a fixed set of conversations, what each official chat template renders
(facts about each format; where each was read is listed in docs/training.md): the
generation prompt, and what the full conversation adds to it once the assistant has
answered. medmat's family templates, rendered through the tiny processors (whose special
tokens are the real checkpoints'), must produce the same text. The one deliberate
difference is MEDMAT_COMPLETION: LLaVA's answer ends with ``</s>`` so the model learns to stop.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from jinja2 import TemplateError  # noqa: E402

from medmat.models.hf import FAMILIES  # noqa: E402
from medmat.models.hf.chat import encode, item_messages, messages  # noqa: E402
from medmat.models.hf.supervision import (  # noqa: E402
    MissingEndOfTurn, SpanError, end_of_turn_id, find_span, inspect_template)
from medmat.models.tiny import TINY_BUILDERS, write_tiny_store  # noqa: E402

MEDMAT_Q = ("Which finding does this CT image of the lung show?\nA: normal\nB: tumor\n"
            "Answer with the option's letter from the given choices directly.")
IMAGE = {"type": "image"}


def _text(s):
    return {"type": "text", "text": s}


CONVERSATIONS = {  # name -> (messages before the answer, answer)
    "image_first": ([{"role": "user", "content": [IMAGE, _text("What does the image show?")]}], "A"),
    "text_only": ([{"role": "user", "content": [_text("What is shown?")]}], "A"),
    "text_then_image": ([{"role": "user", "content": [_text("Look at this."), IMAGE]}], "A"),
    "whitespace": ([{"role": "user", "content": [IMAGE, _text("  Which organ is shown?  \n")]}], "A"),
    "multiline": ([{"role": "user", "content": [IMAGE, _text(MEDMAT_Q)]}], "B"),
    "system": ([{"role": "system", "content": [_text("You are a radiologist.")]},
                {"role": "user", "content": [IMAGE, _text("What does the image show?")]}], "A"),
}

REJECTED = "REJECTED"  # the official template raises for this conversation

_QWEN_SYS = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
_QWEN_IMG = "<|vision_start|><|image_pad|><|vision_end|>"
_QWEN_ASK = "<|im_end|>\n<|im_start|>assistant\n"
_CHATML = {
    "image_first": (f"{_QWEN_SYS}<|im_start|>user\n{_QWEN_IMG}What does the image show?{_QWEN_ASK}", "A<|im_end|>\n"),
    "text_only": (f"{_QWEN_SYS}<|im_start|>user\nWhat is shown?{_QWEN_ASK}", "A<|im_end|>\n"),
    "text_then_image": (f"{_QWEN_SYS}<|im_start|>user\nLook at this.{_QWEN_IMG}{_QWEN_ASK}", "A<|im_end|>\n"),
    "whitespace": (f"{_QWEN_SYS}<|im_start|>user\n{_QWEN_IMG}  Which organ is shown?  \n{_QWEN_ASK}", "A<|im_end|>\n"),
    "multiline": (f"{_QWEN_SYS}<|im_start|>user\n{_QWEN_IMG}{MEDMAT_Q}{_QWEN_ASK}", "B<|im_end|>\n"),
    "system": ("<|im_start|>system\nYou are a radiologist.<|im_end|>\n"
               f"<|im_start|>user\n{_QWEN_IMG}What does the image show?{_QWEN_ASK}", "A<|im_end|>\n"),
}
_LLAVA = {  # llava-hf/llava-1.5-*-hf: images first, each text followed by a space; the answer is "A "
    "image_first": ("USER: <image>\nWhat does the image show? ASSISTANT:", " A "),
    "text_only": ("USER: What is shown? ASSISTANT:", " A "),
    "text_then_image": ("USER: <image>\nLook at this. ASSISTANT:", " A "),
    "whitespace": ("USER: <image>\n  Which organ is shown?  \n ASSISTANT:", " A "),
    "multiline": (f"USER: <image>\n{MEDMAT_Q} ASSISTANT:", " B "),
    "system": ("You are a radiologist. USER: <image>\nWhat does the image show? ASSISTANT:", " A "),
}
_L3_USER = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
_L3_ASK = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
_LLAMA3_VISION = {  # with date_string="26 Jul 2024" (the official template defaults to today's date)
    "image_first": (f"{_L3_USER}<|image|>What does the image show?{_L3_ASK}", "A<|eot_id|>"),
    "text_only": ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                  "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                  f"What is shown?{_L3_ASK}", "A<|eot_id|>"),
    "text_then_image": (f"{_L3_USER}Look at this.<|image|>{_L3_ASK}", "A<|eot_id|>"),
    "whitespace": (f"{_L3_USER}<|image|>  Which organ is shown?  \n{_L3_ASK}", "A<|eot_id|>"),
    "multiline": (f"{_L3_USER}<|image|>{MEDMAT_Q}{_L3_ASK}", "B<|eot_id|>"),
    "system": (REJECTED, "Prompting with images is incompatible with system messages."),
}
_IDEFICS3 = {  # "User:" then a space unless the content starts with an image
    "image_first": ("<|begin_of_text|>User:<image>What does the image show?<end_of_utterance>\nAssistant:",
                    " A<end_of_utterance>\n"),
    "text_only": ("<|begin_of_text|>User: What is shown?<end_of_utterance>\nAssistant:", " A<end_of_utterance>\n"),
    "text_then_image": ("<|begin_of_text|>User: Look at this.<image><end_of_utterance>\nAssistant:",
                        " A<end_of_utterance>\n"),
    "whitespace": ("<|begin_of_text|>User:<image>  Which organ is shown?  \n<end_of_utterance>\nAssistant:",
                   " A<end_of_utterance>\n"),
    "multiline": (f"<|begin_of_text|>User:<image>{MEDMAT_Q}<end_of_utterance>\nAssistant:", " B<end_of_utterance>\n"),
    "system": ("<|begin_of_text|>System: You are a radiologist.<end_of_utterance>\n"
               "User:<image>What does the image show?<end_of_utterance>\nAssistant:", " A<end_of_utterance>\n"),
}
# SmolVLM's official template is Idefics3's with SmolLM2's BOS, <|im_start|>, written first.
_SMOLVLM = {k: (p.replace("<|begin_of_text|>", "<|im_start|>", 1), c) for k, (p, c) in _IDEFICS3.items()}
_GEMMA3 = {  # every text item trimmed; a system message opens the first user turn, then a blank line
    "image_first": ("<bos><start_of_turn>user\n<start_of_image>What does the image show?<end_of_turn>\n"
                    "<start_of_turn>model\n", "A<end_of_turn>\n"),
    "text_only": ("<bos><start_of_turn>user\nWhat is shown?<end_of_turn>\n<start_of_turn>model\n", "A<end_of_turn>\n"),
    "text_then_image": ("<bos><start_of_turn>user\nLook at this.<start_of_image><end_of_turn>\n<start_of_turn>model\n",
                        "A<end_of_turn>\n"),
    "whitespace": ("<bos><start_of_turn>user\n<start_of_image>Which organ is shown?<end_of_turn>\n"
                   "<start_of_turn>model\n", "A<end_of_turn>\n"),
    "multiline": (f"<bos><start_of_turn>user\n<start_of_image>{MEDMAT_Q}<end_of_turn>\n<start_of_turn>model\n",
                  "B<end_of_turn>\n"),
    "system": ("<bos><start_of_turn>user\nYou are a radiologist.\n\n<start_of_image>What does the image show?"
               "<end_of_turn>\n<start_of_turn>model\n", "A<end_of_turn>\n"),
}
OFFICIAL = {"qwen2-vl": _CHATML, "qwen2.5-vl": _CHATML, "llava": _LLAVA, "llama-3.2-vision": _LLAMA3_VISION,
            "idefics3": _IDEFICS3, "smolvlm": _SMOLVLM, "gemma3": _GEMMA3}
# The checkpoints' BOS where their templates write it (the tiny tokenizers use the same strings).
BOS = {"llama-3.2-vision": "<|begin_of_text|>", "idefics3": "<|begin_of_text|>", "smolvlm": "<|im_start|>",
       "gemma3": "<bos>"}
# Where medmat's full conversation deliberately differs: the answer must end with the end of turn.
MEDMAT_COMPLETION = {"llava": {"multiline": " B</s>", None: " A</s>"}}


@pytest.fixture(scope="module")
def processors():
    return {name: TINY_BUILDERS.get(name)(0)[1] for name in OFFICIAL}


def _render(proc, family, conv, gen):
    return proc.apply_chat_template(conv, chat_template=FAMILIES.get(family).chat_template, tokenize=False,
                                    add_generation_prompt=gen)


def test_every_family_has_official_facts():
    assert set(OFFICIAL) == set(FAMILIES.names())
    assert all(set(table) == set(CONVERSATIONS) for table in OFFICIAL.values())


@pytest.mark.parametrize("conv_name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("family", sorted(OFFICIAL))
def test_medmat_template_renders_like_the_official_one(processors, family, conv_name):
    proc = processors[family]
    if family in BOS:
        assert proc.tokenizer.bos_token == BOS[family]
    conv, answer = CONVERSATIONS[conv_name]
    full = conv + [{"role": "assistant", "content": [_text(answer)]}]
    prompt, completion = OFFICIAL[family][conv_name]
    if prompt == REJECTED:
        for c, gen in ((conv, True), (full, False)):
            with pytest.raises(TemplateError, match=completion):
                _render(proc, family, c, gen)
        return
    override = MEDMAT_COMPLETION.get(family, {})
    completion = override.get(conv_name, override.get(None, completion))
    assert _render(proc, family, conv, True) == prompt
    assert _render(proc, family, full, False) == prompt + completion


def test_llava_differs_from_llava_hf_only_by_ending_the_answer():
    # llava-hf supervises "A " (answer and a space); medmat writes "A</s>": same prompt, and the
    # end of turn the original LLaVA-1.5 conversations used, so a fine-tuned model learns to stop.
    for conv_name, (_, official) in _LLAVA.items():
        mine = MEDMAT_COMPLETION["llava"].get(conv_name, MEDMAT_COMPLETION["llava"][None])
        assert official.endswith(" ") and mine == official[:-1] + "</s>"


def test_llama3_vision_text_only_date_is_fixed_unless_given(processors):
    proc = processors["llama-3.2-vision"]
    conv = CONVERSATIONS["text_only"][0]
    assert "Today Date: 26 Jul 2024\n" in _render(proc, "llama-3.2-vision", conv, True)
    given = proc.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, date_string="01 Jan 2030")
    assert "Today Date: 01 Jan 2030\n" in given


# -- the supervision rule -------------------------------------------------------------------

def _decode(ids):
    return "".join({1: "A", 2: "<eot>", 3: "\n", 4: "User:", 5: " A"}[i] for i in ids)


@pytest.mark.parametrize("ids, mask, expected", [
    ([4, 1, 2, 3], [0, 1, 1, 0], (1, 3, False)),  # answer + end of turn
    ([4, 5, 2, 3], [0, 1, 1, 0], (1, 3, False)),  # a leading space belongs to the answer's token
    ([4, 1, 2, 3], [0, 1, 0, 0], (1, 3, True)),  # stops right before the end of turn: extended
    ([4, 1, 3, 2], [0, 1, 0, 0], MissingEndOfTurn),  # the answer alone, end of turn not next
    ([4, 1, 3], [0, 1, 1], SpanError),  # answer + newline
    ([4, 1, 2, 3], [1, 1, 1, 0], SpanError),  # the header too
    ([4, 1, 2, 3], [0, 0, 0, 0], SpanError),  # nothing
    ([1, 4, 1, 2], [1, 0, 1, 1], SpanError),  # two pieces
    ([4, 2, 3, 3], [0, 1, 0, 0], SpanError),  # the end of turn without the answer
])
def test_find_span(ids, mask, expected):
    if isinstance(expected, type):
        with pytest.raises(expected):
            find_span(ids, mask, "A", 2, _decode)
    else:
        span = find_span(ids, mask, "A", 2, _decode)
        assert (span.start, span.end, span.extended) == expected


def test_end_of_turn_must_be_one_token_of_the_tokenizer(processors):
    tok = processors["qwen2-vl"].tokenizer
    assert end_of_turn_id(tok, "<|im_end|>") == tok.convert_tokens_to_ids("<|im_end|>")
    with pytest.raises(ValueError, match="no single token '<end_of_turn>'"):
        end_of_turn_id(tok, "<end_of_turn>")


def _fresh(family):
    return TINY_BUILDERS.get(family)(0)[1]


def _changed(template, old, new):
    assert old in template, old  # the edit below must really happen
    return template.replace(old, new)


@pytest.mark.parametrize("family", sorted(OFFICIAL))
def test_family_templates_are_kept(processors, family):
    sup = inspect_template(processors[family], FAMILIES.get(family))
    assert (sup.template, sup.action) == ("shipped", "kept")
    assert sup.supervised.strip() == "A" + FAMILIES.get(family).end_of_turn


def test_template_without_markers_is_replaced():
    proc = _fresh("qwen2-vl")
    proc.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'][-1]['text'] }}\n{% endfor %}"
    sup = inspect_template(proc, FAMILIES.get("qwen2-vl"))
    assert (sup.template, sup.action, sup.supervised) == ("medmat", "replaced", "A<|im_end|>")
    assert "no {% generation %} markers" in sup.reason
    assert proc.chat_template == FAMILIES.get("qwen2-vl").chat_template


def test_span_without_end_of_turn_is_replaced():
    # llava-hf's template: generation markers around "A " and no </s> anywhere.
    proc = _fresh("llava")
    proc.chat_template = _changed(FAMILIES.get("llava").chat_template, "{{ '</s>' }}", "{{ ' ' }}")
    sup = inspect_template(proc, FAMILIES.get("llava"))
    assert (sup.template, sup.action, sup.supervised) == ("medmat", "replaced", " A</s>")
    assert "' A '" in sup.reason and "without the end-of-turn token" in sup.reason


def test_span_stopping_before_end_of_turn_is_extended_on_the_token_ids(tmp_path):
    # A Qwen2-VL revision with generation markers around the answer only, <|im_end|> after them.
    proc = _fresh("qwen2-vl")
    family = FAMILIES.get("qwen2-vl")
    shipped = _changed(family.chat_template, "{{ '<|im_end|>' }}{% endgeneration %}",
                       "{% endgeneration %}{{ '<|im_end|>' }}")
    proc.chat_template = shipped
    sup = inspect_template(proc, family)
    assert (sup.template, sup.action, sup.supervised) == ("shipped", "extended", "A<|im_end|>")
    assert proc.chat_template == shipped
    items = write_tiny_store(tmp_path, n_items=2, seed=0, splits=("train",))
    batch = encode(proc, [item_messages(it, tmp_path, True) for it in items], train=True,
                   end_of_turn_id=sup.end_of_turn_id)
    for it, ids, labels in zip(items, batch["input_ids"], batch["labels"]):
        sup_ids = [int(i) for i, lab in zip(ids, labels) if lab != -100]
        assert sup_ids[-1] == sup.end_of_turn_id
        assert proc.tokenizer.decode(sup_ids[:-1]) == it.answer_choice


def test_span_covering_anything_else_is_refused_for_training():
    proc = _fresh("gemma3")
    proc.chat_template = ("{% for m in messages %}{% if m['role'] == 'assistant' %}{% generation %}Answer: "
                          "{{ m['content'][0]['text'] }}<end_of_turn>{% endgeneration %}{% else %}"
                          "{{ m['content'][-1]['text'] }}{% endif %}{% endfor %}")
    sup = inspect_template(proc, FAMILIES.get("gemma3"))  # the checkpoint still loads and answers
    assert (sup.template, sup.action) == ("shipped", "refused")
    with pytest.raises(ValueError, match="supervises 'Answer: A<end_of_turn>'.*Remove its {% generation %} markers"):
        sup.check_trainable()


def test_training_batch_with_a_wrong_span_is_an_error():
    proc = _fresh("qwen2-vl")
    conv = messages("Q", None, "A")
    conv[0]["content"] = [c for c in conv[0]["content"] if c["type"] == "text"]  # no image to load
    eot = end_of_turn_id(proc.tokenizer, "<|im_end|>")
    proc.chat_template = _changed(FAMILIES.get("qwen2-vl").chat_template, "{{ '<|im_end|>' }}{% endgeneration %}",
                                  "{{ '<|im_end|>' }}{{ '\\n' }}{% endgeneration %}")
    with pytest.raises(ValueError, match="training example 0 .*supervises 'A<\\|im_end\\|>\\\\n'"):
        encode(proc, [conv], train=True, end_of_turn_id=eot)
    with pytest.raises(ValueError, match="end_of_turn_id"):
        encode(proc, [conv], train=True)
