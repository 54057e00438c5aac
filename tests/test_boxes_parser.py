"""The box parser's table of answers (every form and failure seen or feared), IoU against
hand-computed values, and the box syntaxes written and read back."""

from __future__ import annotations

import json

import pytest

from medmat.boxes import (
    BOX_SYNTAXES, INVALID_BOX_HOWS, VALID_BOX_HOWS, answer_frame, box_text, iou, parse_box, quantise, render_box,
    resized_size, to_unit, unit,
)

B = (0.1, 0.2, 0.3, 0.4)  # [100, 200, 300, 400] in 0-1000
PX = (640, 480)
BPX = (0.1, 0.2, 0.3, 0.5)  # [64, 96, 192, 240] in a 640 x 480 frame

# (answer text, convention, frame, expected 0-1 box or None, expected how)
TABLE = [
    ("[100, 200, 300, 400]", "norm1000", None, B, "list"),
    ("[100,200,300,400]", "norm1000", None, B, "list"),
    ("(100, 200, 300, 400)", "norm1000", None, B, "list"),
    ("[100 200 300 400]", "norm1000", None, B, "list"),
    ("[100; 200; 300; 400]", "norm1000", None, B, "list"),
    ("The box is [100, 200, 300, 400].", "norm1000", None, B, "list"),
    ("**[100, 200, 300, 400]**", "norm1000", None, B, "list"),
    ("`[100, 200, 300, 400]`", "norm1000", None, B, "list"),
    ("Answer: [100,200,300,400]", "norm1000", None, B, "list"),
    ("[100, 200, 300, 400]\nThis box surrounds the lesion.", "norm1000", None, B, "list"),
    ("[100.5, 200, 300, 400]", "norm1000", None, (0.1005, 0.2, 0.3, 0.4), "list"),
    ("[0, 0, 1000, 1000]", "norm1000", None, (0.0, 0.0, 1.0, 1.0), "list"),
    ("[0, 0, 1, 1]", "norm1000", None, (0.0, 0.0, 0.001, 0.001), "list"),  # integers: a tiny 0-1000 box
    ("[100, 200, 300, 400] and again [100, 200, 300, 400]", "norm1000", None, B, "list"),  # one box, twice
    ("<|box_start|>(100,200),(300,400)<|box_end|>", "norm1000", None, B, "qwen2-vl"),
    ("<|box_start|>(100, 200), (300, 400)<|box_end|>", "norm1000", None, B, "qwen2-vl"),
    ("<|object_ref_start|>polyp<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>", "norm1000", None, B,
     "qwen2-vl"),
    ('{"bbox_2d": [100, 200, 300, 400], "label": "polyp"}', "norm1000", None, B, "json"),
    ('{"bbox": [100, 200, 300, 400]}', "norm1000", None, B, "json"),
    ('{"bbox_2d": [64, 96, 192, 240], "label": "polyp"}', "pixels", PX, BPX, "json"),
    ('```json\n[\n\t{"bbox_2d": [64, 96, 192, 240], "label": "polyp"}\n]\n```', "pixels", PX, BPX, "json"),
    ("(100, 200), (300, 400)", "norm1000", None, B, "points"),
    ("from (100,200) to (300,400)", "norm1000", None, B, "points"),
    ("x1=100, y1=200, x2=300, y2=400", "norm1000", None, B, "named"),
    ("xmin: 100, ymin: 200, xmax: 300, ymax: 400", "norm1000", None, B, "named"),
    ("[0.1, 0.2, 0.3, 0.4]", "norm1", None, B, "list"),
    ("[0, 0, 1, 1]", "norm1", None, (0.0, 0.0, 1.0, 1.0), "list"),
    ("[64, 96, 192, 240]", "pixels", PX, BPX, "list"),
    ("[0, 0, 640, 480]", "pixels", PX, (0.0, 0.0, 1.0, 1.0), "list"),
    # the scale the prompt did not ask for is never guessed
    ("[0.1, 0.2, 0.3, 0.4]", "norm1000", None, None, "wrong-scale"),
    ("[0.1, 0.2, 0.3, 0.4]", "pixels", PX, None, "wrong-scale"),
    ("[100, 200, 300, 400]", "norm1", None, None, "wrong-scale"),
    # numbers outside the frame
    ("[100, 200, 1300, 400]", "norm1000", None, None, "out-of-range"),
    ("[-5, 200, 300, 400]", "norm1000", None, None, "out-of-range"),
    ("[64, 96, 700, 240]", "pixels", PX, None, "out-of-range"),
    ("[100, 200, 3000, 400]", "norm1", None, None, "out-of-range"),
    # corners in the wrong order or no area
    ("[300, 200, 100, 400]", "norm1000", None, None, "degenerate"),
    ("[100, 400, 300, 400]", "norm1000", None, None, "degenerate"),
    ("[640, 480, 0, 0]", "pixels", PX, None, "degenerate"),
    # nothing, too little, too much
    ("", "norm1000", None, None, "empty"),
    (None, "norm1000", None, None, "empty"),
    ("   \n ", "norm1000", None, None, "empty"),
    ("[100, 200, 300]", "norm1000", None, None, "bad-arity"),
    ("[100, 200, 300, 400, 500]", "norm1000", None, None, "bad-arity"),
    ("[100, 200, 300, 400] and [500, 600, 700, 800]", "norm1000", None, None, "multiple"),
    ("<|box_start|>(100,200),(300,400)<|box_end|><|box_start|>(500,600),(700,800)<|box_end|>", "norm1000", None,
     None, "multiple"),
    ('{"bbox_2d": [64, 96, 192, 240]} and {"bbox_2d": [0, 0, 10, 10]}', "pixels", PX, None, "multiple"),
    ("I cannot locate the polyp in this image.", "norm1000", None, None, "refusal"),
    ("Sorry, I can't see any lesion.", "norm1000", None, None, "refusal"),
    ("The polyp is in the upper left.", "norm1000", None, None, "unparsed"),
    ("B", "norm1000", None, None, "unparsed"),
]


@pytest.mark.parametrize("text,convention,frame,expected,how", TABLE)
def test_parse_box_table(text, convention, frame, expected, how):
    got = parse_box(text, convention, frame)
    assert got.how == how, (text, got)
    if expected is None:
        assert got.box is None and not got.valid
    else:
        assert got.valid and got.box == pytest.approx(expected, abs=1e-9)


def test_the_table_is_big_and_covers_every_verdict():
    assert len(TABLE) >= 40
    assert {row[4] for row in TABLE} == set(VALID_BOX_HOWS) | set(INVALID_BOX_HOWS)


def test_pixel_answers_need_the_frame():
    with pytest.raises(ValueError, match="frame"):
        parse_box("[1, 2, 3, 4]", "pixels")
    with pytest.raises(ValueError, match="unknown box convention"):
        parse_box("[1, 2, 3, 4]", "percent")


@pytest.mark.parametrize("a,b,expected", [
    ((0, 0, 2, 2), (1, 1, 3, 3), 1 / 7),  # 1 px overlap, union 4 + 4 - 1
    ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
    ((0, 0, 4, 4), (1, 1, 3, 3), 4 / 16),  # contained
    ((0, 0, 1, 1), (0, 0, 1, 1), 1.0),
    ((0, 0, 1, 1), (1, 0, 2, 1), 0.0),  # sharing an edge only
    ((0, 0, 1, 1), (2, 2, 3, 3), 0.0),
    ((0, 0, 0, 5), (0, 0, 1, 5), 0.0),  # an empty box
    ((0.1, 0.2, 0.3, 0.4), (0.2, 0.2, 0.4, 0.4), 0.02 / 0.06),
])
def test_iou_against_hand_computed_values(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_normalised_form_round_trips():
    box = to_unit(64, 96, 192, 240, 640, 480)
    assert box == pytest.approx(BPX)
    q = quantise(box)
    assert q == (100, 200, 300, 500) and box_text(q) == "[100, 200, 300, 500]"
    assert unit(q) == (0.1, 0.2, 0.3, 0.5)
    assert parse_box(box_text(q)).box == unit(q)
    assert to_unit(-3, 0, 700, 480, 640, 480) == (0.0, 0.0, 1.0, 1.0)  # clipped to the image


@pytest.mark.parametrize("syntax", BOX_SYNTAXES.names())
def test_every_syntax_reads_back_as_written(syntax):
    s = BOX_SYNTAXES.get(syntax)
    frame = (644, 476) if s.convention == "pixels" else None
    text = render_box(syntax, BPX, "polyp", frame)
    got = parse_box(text, s.convention, frame)
    assert got.valid and iou(got.box, BPX) > 0.99, (syntax, text, got)


def test_family_syntaxes_look_as_the_models_write_them():
    assert render_box("plain", B) == "[100, 200, 300, 400]"
    assert render_box("qwen2-vl", B, "polyp") == \
        "<|object_ref_start|>polyp<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>"
    assert json.loads(render_box("qwen2.5-vl", BPX, "polyp", PX)) == {"bbox_2d": [64, 96, 192, 240], "label": "polyp"}


def test_resized_size_follows_the_qwen_processor_rule():
    assert resized_size(640, 480) == (644, 476)  # multiples of 28, nearest
    w, h = resized_size(4000, 3000, max_pixels=1_003_520)
    assert w % 28 == h % 28 == 0 and w * h <= 1_003_520 and abs(w / h - 4 / 3) < 0.05
    w, h = resized_size(20, 20, min_pixels=3136)
    assert w * h >= 3136 and w % 28 == 0
    assert answer_frame([640, 480], (28, 3136, 12_845_056)) == (644, 476)
    assert answer_frame([640, 480]) == (640, 480) and answer_frame(None) is None
