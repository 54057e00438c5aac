"""medmat's chat templates, one per prompt format, each with ``{% generation %}`` markers.

Why medmat carries its own: the assistant mask (loss on the answer only) needs
``{% generation %}`` markers, and most shipped templates have none; and a shipped span
may leave out the end-of-turn token (llava-hf supervises ``"A "``, never ``</s>``), so a
model fine-tuned on it never learns to stop. Each template here renders every
conversation medmat sends exactly as the official checkpoint's template does (pinned
in tests/test_hf_templates.py, sources in docs/training.md), and supervises the
answer plus the family's end-of-turn token, nothing else.

Deliberate differences from the official templates, none reachable from a Med-MAT item
(every item is one user turn with an image and a question, then the answer letter):
  * LLaVA-1.5: the answer ends with ``</s>`` (as the original LLaVA-1.5 conversations
    did), where llava-hf's template writes ``"A "`` and no end of turn;
  * Llama-3.2-Vision: a text-only conversation gets the dated system header with a fixed
    date ("26 Jul 2024", or ``date_string`` when given) instead of today's date, so the
    same data always renders the same bytes; a list-content system message is rendered
    as its text (the official template writes the list's Python repr);
  * string message content is rendered as one text item everywhere (llava-hf drops it).
Tool calls, videos and the official ``add_vision_id`` option are not supported.

Jinja runs with trim_blocks/lstrip_blocks in transformers; every literal here is printed
with ``{{ }}`` so no template whitespace can leak into the output.
"""

from __future__ import annotations


def _lit(text: str) -> str:
    """Jinja that prints ``text`` exactly."""
    return "{{ " + repr(text) + " }}"


# Message content as a list of items: a plain string is one text item.
_ITEMS = ("{%- set items = [{'type': 'text', 'text': message['content']}] if message['content'] is string "
          "else message['content'] -%}")


def _content(image: str, *, trim: bool = False) -> str:
    """Jinja printing ``items`` in order: images as ``image``, texts as they are (or trimmed)."""
    text = "{{ c['text'] | trim }}" if trim else "{{ c['text'] }}"
    return ("{%- for c in items -%}{%- if c['type'] == 'image' -%}" + _lit(image)
            + "{%- elif c['type'] == 'text' -%}" + text + "{%- endif -%}{%- endfor -%}")


def _generation_prompt(header: str) -> str:
    return "{%- if add_generation_prompt -%}" + _lit(header) + "{%- endif -%}"


def chatml(default_system: str) -> str:
    """Qwen2-VL / Qwen2.5-VL: ChatML turns; a default system turn unless the first message is one."""
    return (
        "{%- for message in messages -%}" + _ITEMS
        + "{%- if loop.first and message['role'] != 'system' -%}"
        + _lit(f"<|im_start|>system\n{default_system}<|im_end|>\n") + "{%- endif -%}"
        + "{{ '<|im_start|>' + message['role'] + '\\n' }}"
        + "{%- if message['role'] == 'assistant' -%}"
        + "{% generation %}" + _content("<|vision_start|><|image_pad|><|vision_end|>") + _lit("<|im_end|>")
        + "{% endgeneration %}" + _lit("\n")
        + "{%- else -%}" + _content("<|vision_start|><|image_pad|><|vision_end|>") + _lit("<|im_end|>\n")
        + "{%- endif -%}{%- endfor -%}"
        + _generation_prompt("<|im_start|>assistant\n")
    )


def llava() -> str:
    """LLaVA-1.5 (llava-hf): ``ROLE: `` prefixes (none for system), images first, texts each followed
    by a space; the assistant's answer ends with ``</s>`` (see the module docstring)."""
    return (
        "{%- for message in messages -%}" + _ITEMS
        + "{%- if message['role'] != 'system' -%}{{ message['role'].upper() + ': ' }}{%- endif -%}"
        + "{%- for c in items if c['type'] == 'image' -%}" + _lit("<image>\n") + "{%- endfor -%}"
        + "{%- if message['role'] == 'assistant' -%}{% generation %}"
        + "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}"
        + "{%- if not loop.last -%}" + _lit(" ") + "{%- endif -%}{%- endfor -%}"
        + _lit("</s>") + "{% endgeneration %}"
        + "{%- else -%}{%- for c in items if c['type'] == 'text' -%}{{ c['text'] + ' ' }}{%- endfor -%}"
        + "{%- endif -%}{%- endfor -%}"
        + _generation_prompt("ASSISTANT:")
    )


def llama3_vision() -> str:
    """Llama-3.2-Vision-Instruct: header/eot turns after the BOS; a system message and images
    exclude each other; without images a dated system header comes first."""
    header = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    return (
        "{{- bos_token -}}"
        "{%- if date_string is not defined -%}{%- set date_string = '26 Jul 2024' -%}{%- endif -%}"
        "{%- if messages[0]['role'] == 'system' -%}"
        "{%- if messages[0]['content'] is string -%}{%- set system_message = messages[0]['content'] | trim -%}"
        "{%- else -%}{%- set system_message = messages[0]['content'] | selectattr('type', 'equalto', 'text')"
        " | map(attribute='text') | join('') | trim -%}{%- endif -%}"
        "{%- set loop_messages = messages[1:] -%}"
        "{%- else -%}{%- set system_message = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
        "{%- set ns = namespace(has_images=false) -%}"
        "{%- for message in loop_messages -%}{%- if message['content'] is not string -%}"
        "{%- for c in message['content'] if c['type'] == 'image' -%}{%- set ns.has_images = true -%}{%- endfor -%}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if ns.has_images and system_message != '' -%}"
        "{{ raise_exception('Prompting with images is incompatible with system messages.') }}{%- endif -%}"
        "{%- if not ns.has_images -%}"
        "{{ '<|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: December 2023\\n"
        "Today Date: ' + date_string + '\\n\\n' + system_message + '<|eot_id|>' }}{%- endif -%}"
        "{%- for message in loop_messages -%}" + _ITEMS + header
        + "{%- if message['role'] == 'assistant' -%}{% generation %}" + _content("<|image|>") + _lit("<|eot_id|>")
        + "{% endgeneration %}{%- else -%}" + _content("<|image|>") + _lit("<|eot_id|>")
        + "{%- endif -%}{%- endfor -%}"
        + _generation_prompt("<|start_header_id|>assistant<|end_header_id|>\n\n")
    )


def idefics() -> str:
    """Idefics3 / SmolVLM: ``Role:`` then a space unless the content starts with an image; turns
    end with ``<end_of_utterance>`` and a newline. The BOS is the tokenizer's (Idefics3:
    ``<|begin_of_text|>``, SmolVLM: ``<|im_start|>``)."""
    return (
        "{{- bos_token -}}"
        "{%- for message in messages -%}" + _ITEMS
        + "{%- set sep = ':' if (items and items[0]['type'] == 'image') else ': ' -%}"
        + "{%- if message['role'] == 'assistant' -%}{{ (message['role'] | capitalize) + ':' }}"
        + "{% generation %}{{ sep[1:] }}" + _content("<image>") + _lit("<end_of_utterance>") + "{% endgeneration %}"
        + _lit("\n")
        + "{%- else -%}{{ (message['role'] | capitalize) + sep }}" + _content("<image>")
        + _lit("<end_of_utterance>\n") + "{%- endif -%}{%- endfor -%}"
        + _generation_prompt("Assistant:")
    )


def gemma3() -> str:
    """Gemma3: ``<start_of_turn>user|model`` turns, every text item trimmed, a system message
    folded into the first user turn (followed by a blank line)."""
    return (
        "{{- bos_token -}}"
        "{%- if messages[0]['role'] == 'system' -%}"
        "{%- set first_user_prefix = (messages[0]['content'] if messages[0]['content'] is string "
        "else messages[0]['content'][0]['text']) + '\\n\\n' -%}"
        "{%- set loop_messages = messages[1:] -%}"
        "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
        "{%- for message in loop_messages -%}" + _ITEMS
        + "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
        + "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
        + "{%- if message['role'] == 'assistant' -%}{% generation %}" + _content("<start_of_image>", trim=True)
        + _lit("<end_of_turn>") + "{% endgeneration %}" + _lit("\n")
        + "{%- else -%}" + _content("<start_of_image>", trim=True) + _lit("<end_of_turn>\n")
        + "{%- endif -%}{%- endfor -%}"
        + _generation_prompt("<start_of_turn>model\n")
    )
