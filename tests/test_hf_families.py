"""Every registered HF family: builds tiny offline, loads by path, masks labels, scores consistently.

Iterates over the family registry (timm-style): a family added without a tiny builder
fails here unless it is listed in NOT_BUILDABLE with a reason.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from medmat.models import BACKBONES, TrainConfig  # noqa: E402
from medmat.models.hf import FAMILIES  # noqa: E402
from medmat.models.hf.chat import IGNORE_INDEX, encode, item_messages, messages  # noqa: E402
from medmat.models.tiny import NOT_BUILDABLE, TINY_BUILDERS, build_tiny, write_tiny_store  # noqa: E402

FAMILY_NAMES = FAMILIES.names()


def test_required_families_are_registered_as_backbones():
    for name in ["qwen2-vl", "qwen2.5-vl", "llava", "llama-3.2-vision", "idefics3", "smolvlm", "gemma3"]:
        assert name in FAMILIES
        assert BACKBONES.get(name).family.name == name


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_is_buildable_or_says_why(family):
    assert (family in TINY_BUILDERS) != (family in NOT_BUILDABLE), family
    if family in NOT_BUILDABLE:
        assert NOT_BUILDABLE[family].strip()


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_lora_regex_targets_language_model_only(family):
    rx = re.compile(FAMILIES.get(family).lora_target_regex())
    lm = FAMILIES.get(family).lm_prefix.replace("\\", "")
    assert rx.fullmatch(f"base_model.model.model.{lm}.3.self_attn.q_proj")
    assert rx.fullmatch(f"model.{lm}.0.mlp.down_proj")
    assert not rx.fullmatch("model.visual.blocks.0.mlp.down_proj")
    assert not rx.fullmatch("model.vision_tower.encoder.layers.0.self_attn.q_proj")
    assert not rx.fullmatch("model.vision_model.encoder.layers.0.mlp.fc1")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    items = write_tiny_store(root, n_items=3, seed=1, splits=("test",))
    return root, items


@pytest.mark.parametrize("family", [f for f in FAMILY_NAMES if f in TINY_BUILDERS])
def test_tiny_family_smoke(family, tmp_path, store):
    """Build -> load by path -> label mask, letter tokens, batched == single scores, generation."""
    root, items = store
    path = build_tiny(family, tmp_path / family, seed=0)
    assert (path / "config.json").is_file()
    bb = BACKBONES.get(family).load(path)
    assert type(bb.model).__name__ == FAMILIES.get(family).model_class
    tok = bb.processor.tokenizer

    # Label mask: exactly the answer (with the template's prefix) and the end of turn, i.e.
    # what the template appends after the generation prompt, minus the newline after it.
    eot_id = tok.convert_tokens_to_ids(FAMILIES.get(family).end_of_turn)
    assert bb.supervision.end_of_turn_id == eot_id and bb.supervision.action == "kept"
    batch = encode(bb.processor, [item_messages(it, root, True) for it in items[:2]], train=True,
                   end_of_turn_id=eot_id)
    for row, (ids, labels) in enumerate(zip(batch["input_ids"], batch["labels"])):
        letter = items[row].answer_choice
        prompt = bb.processor.apply_chat_template(messages("Q", None), tokenize=False, add_generation_prompt=True)
        full = bb.processor.apply_chat_template(messages("Q", None, letter), tokenize=False)
        assert full.startswith(prompt)
        expected = full[len(prompt):].rstrip("\n")
        assert expected.strip() != letter  # the end-of-turn marker is part of it
        sup = [int(i) for i, lab in zip(ids, labels) if lab != IGNORE_INDEX]
        assert tok.decode(sup, skip_special_tokens=False) == expected
        assert sup[-1] == eot_id and tok.decode(sup[:-1]).strip() == letter  # the letter, then the stop token
        positions = [i for i, lab in enumerate(labels) if lab != IGNORE_INDEX]
        assert positions == list(range(positions[0], positions[0] + len(positions))), "one contiguous span"
    assert "{% generation %}" in bb.processor.chat_template

    # Letter tokens: the token that follows the generation prompt in the rendered template.
    letters = bb.letter_tokens
    for letter in "ABCD":
        prompt = bb.processor.apply_chat_template(messages("Q", None), tokenize=False, add_generation_prompt=True)
        full = bb.processor.apply_chat_template(messages("Q", None, letter), tokenize=False)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        assert f_ids[:len(p_ids)] == p_ids
        assert f_ids[len(p_ids)] == letters.ids[letter][0]
        assert tok.decode([letters.ids[letter][0]]).strip() == letter
        assert {f.strip() for f in letters.forms[letter]} == {letter}

    # One left-padded batched forward equals item-by-item scoring.
    batched = bb.score_options(items, root, batch_size=len(items))
    single = [bb.score_options([it], root, batch_size=1)[0] for it in items]
    for b, s, it in zip(batched, single, items):
        assert len(b) == it.n_options
        assert b == pytest.approx(s, abs=1e-5)
        assert sum(pow(2.718281828459045, x) for x in b) == pytest.approx(1.0, abs=1e-5)

    assert eot_id in bb.stop_token_ids()
    out = bb.generate(items, root, max_new_tokens=2, batch_size=2)
    assert len(out) == len(items) and all(isinstance(o, str) for o in out)
    assert out == bb.generate(items, root, max_new_tokens=2, batch_size=3)  # greedy, padding-independent


def test_build_tiny_is_deterministic(tmp_path):
    a = build_tiny("qwen2-vl", tmp_path / "a", seed=3)
    b = build_tiny("qwen2-vl", tmp_path / "b", seed=3)
    c = build_tiny("qwen2-vl", tmp_path / "c", seed=4)
    wa, wb, wc = ((p / "model.safetensors").read_bytes() for p in (a, b, c))
    assert wa == wb and wa != wc


def test_unknown_family_and_wrong_family_errors(tmp_path):
    with pytest.raises(KeyError, match="did you mean"):
        build_tiny("qwen2vl", tmp_path)
    path = build_tiny("llava", tmp_path / "llava")
    with pytest.raises(ValueError, match="holds a 'llava' model"):
        BACKBONES.get("qwen2-vl").load(path)
    with pytest.raises(ValueError, match="needs a model folder"):
        BACKBONES.get("llava").load(None)


def test_pixel_limits_set_the_number_of_image_tokens(tmp_path, store):
    root, items = store
    path = build_tiny("qwen2-vl", tmp_path / "q", seed=0)
    counts = {}
    for side in (56, 112):
        bb = BACKBONES.get("qwen2-vl").load(path, min_pixels=side * side, max_pixels=side * side)
        batch = encode(bb.processor, [item_messages(items[0], root, False)], train=False, image_kwargs=bb.image_kwargs)
        image_id = bb.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        counts[side] = int((batch["input_ids"] == image_id).sum())
        assert len(bb.score_options(items[:1], root)[0]) == items[0].n_options
    # 28x28 pixels per image token; the 40x48 image keeps its aspect ratio (rounded to 28 px).
    assert 4 <= counts[56] <= 6 and 16 <= counts[112] <= 20
    with pytest.raises(ValueError, match="min_pixels"):
        BACKBONES.get("qwen2-vl").load(path, min_pixels=10_000, max_pixels=100)


def test_loading_checks_the_shipped_template(tmp_path):
    """The template saved with a checkpoint decides nothing alone: its span must be answer + end of turn."""
    path = build_tiny("llava", tmp_path / "llava")
    family = FAMILIES.get("llava")
    (path / "chat_template.jinja").write_text("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}")
    bb = BACKBONES.get("llava").load(path)
    assert bb.processor.chat_template == family.chat_template and bb.supervision.action == "replaced"
    # llava-hf's template: markers around "A " and no </s>: replaced, the prompt stays the same.
    no_stop = family.chat_template.replace("{{ '</s>' }}", "{{ ' ' }}")
    assert no_stop != family.chat_template
    (path / "chat_template.jinja").write_text(no_stop)
    bb = BACKBONES.get("llava").load(path)
    assert bb.processor.chat_template == family.chat_template
    assert (bb.supervision.action, bb.supervision.supervised) == ("replaced", " A</s>")
    marked = family.chat_template.replace("ASSISTANT:", "ASSISTANT :")
    (path / "chat_template.jinja").write_text(marked)
    bb = BACKBONES.get("llava").load(path)
    assert bb.processor.chat_template == marked and bb.supervision.action == "kept"  # answer + </s>: kept
    # Markers around the header and the answer: the model loads (scoring needs no span), training refuses.
    wide = family.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "").replace(
        "{{ message['role'].upper() + ': ' }}", "{% generation %}{{ message['role'].upper() + ': ' }}{% endgeneration %}")
    assert wide.count("{% generation %}") == 1
    (path / "chat_template.jinja").write_text(wide)
    bb = BACKBONES.get("llava").load(path)
    assert bb.supervision.action == "refused"
    with pytest.raises(ValueError, match=r"supervises tokens that are not one contiguous span \('USER: "):
        bb.fit([], tmp_path, tmp_path / "out", TrainConfig(max_steps=1))
    assert not (tmp_path / "out").exists()
