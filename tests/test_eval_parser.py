"""The answer parser's table of tricky answers: every shape seen or feared, with its verdict."""

from __future__ import annotations

import pytest

from medmat.answers import INVALID_HOWS, VALID_HOWS, ParsedAnswer, parse_answer

OPTS = ["Stone", "Cyst", "Normal", "Tumor"]  # A, B, C, D (the released sample record's labels)
TWO = ["Normal", "COVID-19"]
NESTED = ["Tumor", "Benign Tumor", "Normal"]

# (answer text, options, expected letter or None, expected how)
TABLE = [
    ("B", OPTS, "B", "letter"),
    ("B.", OPTS, "B", "letter"),
    ("(B)", OPTS, "B", "letter"),
    ("[C]", OPTS, "C", "letter"),
    ("  d  ", OPTS, "D", "letter"),
    ("b", OPTS, "B", "letter"),
    ("a", OPTS, "A", "letter"),
    ("Option C", OPTS, "C", "letter"),
    ("**B**", OPTS, "B", "letter"),
    ("`D`", OPTS, "D", "letter"),
    ("B\nThe image shows a fluid-filled lesion; A is unlikely.", OPTS, "B", "letter"),
    ("B: Cyst", OPTS, "B", "letter+text"),
    ("(B) cyst", OPTS, "B", "letter+text"),
    ("B) Cyst.", OPTS, "B", "letter+text"),
    ("**B: Cyst**", OPTS, "B", "letter+text"),
    ("A Stone", OPTS, "A", "letter+text"),
    ("B: Stone", OPTS, None, "contradiction"),
    ("Answer: B (Tumor)", OPTS, None, "contradiction"),
    ("B. The lesion is well circumscribed", OPTS, "B", "letter"),
    ("B is correct", OPTS, "B", "letter"),
    ("Answer: B", OPTS, "B", "announced"),
    ("answer: c", OPTS, "C", "announced"),
    ("The answer is B", OPTS, "B", "announced"),
    ("The answer is B.", OPTS, "B", "announced"),
    ("the correct option is (c)", OPTS, "C", "announced"),
    ("The correct answer is: D. Tumor", OPTS, "D", "announced"),
    ("My answer is option A", OPTS, "A", "announced"),
    ("Option A is wrong. The answer is B", OPTS, "B", "announced"),
    ("I choose D", OPTS, "D", "announced"),
    ("Answer: **C**", OPTS, "C", "announced"),
    ("I think B", OPTS, "B", "letter-in-text"),
    ("Looking at the scan, C seems most likely.", OPTS, "C", "letter-in-text"),
    ("Cyst", OPTS, "B", "text"),
    ("cyst.", OPTS, "B", "text"),
    ("NORMAL", OPTS, "C", "text"),
    ("covid 19", TWO, "B", "text"),
    ("This is a cyst.", OPTS, "B", "text"),
    ("A cyst is visible in the left kidney.", OPTS, "B", "text"),
    ("The answer is a cyst", OPTS, "B", "text"),
    ("Benign tumor", NESTED, "B", "text"),
    ("It looks like a benign tumor to me", NESTED, "B", "text"),
    ("tumor", NESTED, "A", "text"),
    ("a) stone", OPTS, "A", "letter+text"),
    ("Cyst or stone", OPTS, None, "ambiguous-text"),
    ("Not a cyst", OPTS, None, "negated-text"),
    ("There is no tumor", OPTS, None, "negated-text"),
    ("No finding", ["No finding", "Pneumonia"], "A", "text"),
    ("A or B", OPTS, None, "multiple"),
    ("The answer is B or C", OPTS, None, "multiple"),
    ("A, B", OPTS, None, "multiple"),
    ("It could be A or D.", OPTS, None, "multiple"),
    ("Both A and B are possible", OPTS, None, "multiple"),
    ("", OPTS, None, "empty"),
    ("   \n ", OPTS, None, "empty"),
    (None, OPTS, None, "empty"),
    ("**", OPTS, None, "empty"),
    ("I'm sorry, I cannot determine the diagnosis from this image.", OPTS, None, "refusal"),
    ("As an AI, I am unable to give medical advice.", OPTS, None, "refusal"),
    ("E", OPTS, None, "out-of-range"),
    ("C", TWO, None, "out-of-range"),
    ("The answer is F", OPTS, None, "out-of-range"),
    ("(c)", TWO, None, "out-of-range"),
    ("Pneumothorax", OPTS, None, "unparsed"),
    ("a b c d e f g", OPTS, None, "unparsed"),
    ("Bacterial infection", OPTS, None, "unparsed"),
    ("The answer is a mass", OPTS, None, "unparsed"),
]


@pytest.mark.parametrize("text,options,letter,how", TABLE, ids=[repr(r[0])[:40] for r in TABLE])
def test_parse_table(text, options, letter, how):
    got = parse_answer(text, options)
    assert (got.letter, got.how) == (letter, how), f"{text!r} -> {got}"


def test_table_is_large_and_covers_every_verdict():
    assert len(TABLE) >= 30
    hows = {row[3] for row in TABLE}
    assert set(VALID_HOWS) <= hows and set(INVALID_HOWS) <= hows


def test_invalid_means_no_letter_and_valid_letter_in_range():
    for text, options, _, _ in TABLE:
        got = parse_answer(text, options)
        assert isinstance(got, ParsedAnswer)
        assert got.valid == (got.letter is not None)
        assert (got.how in INVALID_HOWS) == (not got.valid)
        if got.valid:
            assert "ABCD".index(got.letter) < len(options)


def test_parser_is_pure_and_deterministic():
    assert parse_answer("Answer: B", OPTS) == parse_answer("Answer: B", list(OPTS))
    assert parse_answer("Answer: B", OPTS) == ParsedAnswer("B", "announced")
