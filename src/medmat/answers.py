"""The robust answer parser: free text from ``generate`` -> an option letter, or INVALID.

Generated answers come in many shapes ("B", "(B)", "Answer: B", "**B**", "The correct
option is (c)", the option text alone ...). A parser that guesses would turn unparseable
text into silently *wrong* answers and hide a model's format failures inside its accuracy.
This one accepts only readings it can justify and otherwise says INVALID with a reason
(``how``), so invalid answers are counted and reported on their own.

``parse_answer`` is a small pure function: no model, no state. Its failure cases live in a
table in tests/test_eval_parser.py; add a row there for every new shape seen in the wild.

Readings, in order of precedence (the first that applies wins):
  1. the whole answer (or its first line) is a letter: ``B``, ``b.``, ``(c)``, ``[D]``;
  2. the whole answer is exactly one option's text: ``cyst.``;
  3. a leading letter with more text: ``B: Cyst``, ``(B) cyst``, ``B. because ...``;
  4. an announced letter: ``Answer: B``, ``the correct option is (c)``, ``I choose B``;
  5. a refusal ("I cannot determine ...") -> INVALID;
  6. capital letters standing alone in a sentence: ``I think B is right``;
  7. option text alone (case/punctuation-insensitive, longest unique match); a negation
     around it ("not a cyst") is ``negated-text`` (INVALID), two options ``ambiguous-text``.
A letter followed by a *different* option's text is a contradiction (INVALID); two
different letters are ``multiple`` (INVALID); a letter beyond the options is
``out-of-range`` (INVALID). Lower-case letters count only where they cannot be an
English word: alone, in brackets, or right after an announcement and followed by
punctuation or the end. The article "a"/"A" in front of a word is never a letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

from medmat.records import LETTERS

ValidHow = Literal["letter", "letter+text", "announced", "letter-in-text", "text"]
InvalidHow = Literal[
    "empty", "refusal", "multiple", "out-of-range", "ambiguous-text", "negated-text", "contradiction", "unparsed"
]
VALID_HOWS: tuple[str, ...] = ("letter", "letter+text", "announced", "letter-in-text", "text")
INVALID_HOWS: tuple[str, ...] = (
    "empty", "refusal", "multiple", "out-of-range", "ambiguous-text", "negated-text", "contradiction", "unparsed",
)

# Letters a model may hallucinate beyond the options; a lone "E" is an answer attempt, not a word.
_LETTER_LIKE = "ABCDEFGH"
_MARKDOWN = re.compile(r"(\*\*|__|`+|\*(?=\S)|(?<=\S)\*)")
_WORD = re.compile(r"[a-z0-9]+")
# Words that may follow a capital letter used as a letter ("A or B", "A is correct").
_CONNECTORS = frozenset(
    "or and nor is was seems looks appears would should could might must because since as "
    "then vs versus".split()
)
# Negations around option text ("not a cyst"): the text names an option but does not choose it.
_NEGATION = frozenset("not no isn t without absent unlikely excluded exclude rule ruled negative never".split())
_REFUSAL = re.compile(
    r"\b(cannot|can ?not|can't|can’t|unable|not able|sorry|not sure|unsure|impossible to|"
    r"no way to|don't know|do not know|insufficient|not possible|as an ai)\b",
    re.IGNORECASE,
)
# A letter in brackets or bare, captured with its brackets so lower case can be judged.
_LETTER_TOKEN = r"(?P<open>[\(\[])?(?P<letter>[A-Za-z])(?P<close>[\)\]])?"
_WHOLE = re.compile(rf"^\s*(?:option|choice|letter)?\s*{_LETTER_TOKEN}\s*[.:;!]?\s*$", re.IGNORECASE)
_LEADING = re.compile(rf"^\s*{_LETTER_TOKEN}(?=\s*[.:;),]|\s+[\-–—]|\s+|$)", re.DOTALL)
# "answer is B", "answer: (b)", "option is C", "correct choice would be D", "I choose B".
_ANNOUNCED = [
    re.compile(
        rf"\b(?:answer|option|choice|letter)\s*(?:is|would\s+be|should\s+be|will\s+be|=|:|-)\s*:?\s*"
        rf"(?:option\s+|letter\s+|choice\s+)?{_LETTER_TOKEN}(?P<rest>.*)$",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(
        rf"\b(?:i\s+(?:would\s+)?(?:choose|pick|select|go\s+with|say)|"
        rf"(?:answer|option|choice|letter))\s+{_LETTER_TOKEN}(?P<rest>.*)$",
        re.IGNORECASE | re.DOTALL,
    ),
]
_MORE_LETTERS = re.compile(r"^\s*(?:,|/|(?i:or|and)|&|\+)\s*(?:[\(\[][A-Za-z][\)\]]|[A-H])(?![A-Za-z0-9])")
_STANDALONE = re.compile(rf"(?<![A-Za-z0-9'’\-])(?P<open>[\(\[])?(?P<letter>[{_LETTER_LIKE}])(?P<close>[\)\]])?(?![A-Za-z0-9'’\-])")


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """The parser's verdict: a letter (or None for INVALID) and how it was reached."""

    letter: str | None
    how: str

    @property
    def valid(self) -> bool:
        return self.letter is not None


def _norm(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: 'COVID-19!' -> 'covid 19'."""
    return " ".join(_WORD.findall(text.lower()))


def _clean(text: str) -> str:
    return _MARKDOWN.sub("", text).strip()


def _option_matches(text: str, options: Sequence[str], *, prefix_only: bool) -> list[int]:
    """Indices of options whose text occurs in ``text`` as whole words, longest first wins.

    An option whose text lies inside a longer matching option's occurrence is dropped
    ("tumor" inside "benign tumor"), so the longest reading is kept.
    """
    hay = f" {_norm(text)} "
    spans: list[tuple[int, int, int]] = []
    for i, opt in enumerate(options):
        needle = _norm(opt)
        if not needle:
            continue
        start = hay.find(f" {needle} ")
        while start >= 0:
            if not prefix_only or start == 0:
                spans.append((start + 1, start + 1 + len(needle), i))
            start = hay.find(f" {needle} ", start + 1)
    keep = {
        i for (s, e, i) in spans
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for (s2, e2, _) in spans)
    }
    return sorted(keep)


def _is_letter(m: re.Match, rest: str, options: Sequence[str], *, lower_ok: bool) -> bool:
    """Whether a matched single character is meant as an option letter, not a word.

    ``rest`` is the text right after the character. Brackets always make it a letter. A
    letter followed by nothing or by punctuation is a letter (lower case only where
    ``lower_ok``: after an announcement or at the start). A letter followed by a word is
    a letter only in upper case, and 'A' only if the word is a connector ("A or B", "A is
    right") or option A's own text ("A Cyst"): otherwise it is the article.
    """
    ch = m.group("letter")
    if rest[:1].isalnum():
        return False  # glued to more letters: 'Bacterial', 'is'
    if m.group("close"):
        return True  # "(b)", "a)": a closing bracket never follows the article
    if ch.upper() not in _LETTER_LIKE:
        return False
    stripped = rest.lstrip()
    if not stripped or not stripped[0].isalnum():
        return ch.isupper() or lower_ok
    if not ch.isupper():
        return False
    words = _WORD.findall(stripped.lower())
    if ch != "A" or (words and words[0] in _CONNECTORS):
        return True
    return bool(options) and 0 in _option_matches(stripped, options, prefix_only=True)


def _finish(letter: str, rest: str, how: str, options: Sequence[str]) -> ParsedAnswer:
    """Range check, then look right after the letter for more letters or contradicting text."""
    letter = letter.upper()
    if _MORE_LETTERS.match(rest):
        return ParsedAnswer(None, "multiple")
    idx = LETTERS.find(letter)
    if idx < 0 or idx >= len(options):
        return ParsedAnswer(None, "out-of-range")
    after = re.sub(r"^[\s.:;)\]\-–—,(\[]+", "", rest)
    named = _option_matches(after, options, prefix_only=True) if after else []
    if named:
        if idx not in named:
            return ParsedAnswer(None, "contradiction")
        return ParsedAnswer(letter, "letter+text" if how == "letter" else how)
    return ParsedAnswer(letter, how)


def parse_answer(text: str | None, options: Sequence[str]) -> ParsedAnswer:
    """Read an option letter out of a generated answer; INVALID (letter None) when unsure.

    ``options`` are the option texts in letter order (``item.options``).
    """
    if text is None or not str(text).strip():
        return ParsedAnswer(None, "empty")
    t = _clean(str(text))
    if not t:
        return ParsedAnswer(None, "empty")
    first_line = t.splitlines()[0].strip()
    # 1. the answer (or its first line) is just a letter
    for candidate in (t, first_line):
        m = _WHOLE.match(candidate)
        if m:
            return _finish(m.group("letter"), "", "letter", options)
    # 2. the answer is exactly one option's text
    exact = [i for i, opt in enumerate(options) if _norm(opt) and _norm(opt) == _norm(t)]
    if len(exact) == 1:
        return ParsedAnswer(LETTERS[exact[0]], "text")
    # 3. a leading letter followed by more text
    m = _LEADING.match(t)
    if m:
        rest = t[m.end():]
        if _is_letter(m, rest, options, lower_ok=True):
            return _finish(m.group("letter"), rest, "letter", options)
    # 4. an announced letter ("the answer is B")
    for pattern in _ANNOUNCED:
        for m in pattern.finditer(t):
            rest = m.group("rest")
            if _is_letter(m, rest, options, lower_ok=True):
                return _finish(m.group("letter"), rest, "announced", options)
    # 5. refusals
    if _REFUSAL.search(t):
        return ParsedAnswer(None, "refusal")
    # 6. capital letters standing alone inside a sentence
    found: set[str] = set()
    for m in _STANDALONE.finditer(t):
        rest = t[m.end():]
        if _is_letter(m, rest, options, lower_ok=False):
            found.add(m.group("letter"))
    if len(found) > 1:
        return ParsedAnswer(None, "multiple")
    if found:
        return _finish(found.pop(), "", "letter-in-text", options)
    # 7. option text alone
    named = _option_matches(t, options, prefix_only=False)
    if len(named) == 1:
        outside = set(_WORD.findall(t.lower())) - set(_norm(options[named[0]]).split())
        if outside & _NEGATION:
            return ParsedAnswer(None, "negated-text")
        return ParsedAnswer(LETTERS[named[0]], "text")
    if len(named) > 1:
        return ParsedAnswer(None, "ambiguous-text")
    return ParsedAnswer(None, "unparsed")
