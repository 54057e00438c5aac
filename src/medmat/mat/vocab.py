"""The MAT vocabulary: canonical names for modalities, anatomical areas and tasks.

The public Med-MAT tables spell the same thing several ways (``US`` / ``Ultrasound``,
``X-Ray`` / ``X-ray``, ``Teeth`` / ``Mouth``). Everything in medmat goes through
:meth:`Vocabulary.normalize` so that two spellings can never become two elements of a
compositional-generalization study. The vocabulary is data (``vocab.yaml``); user and
synthetic catalogs may extend it with :meth:`Vocabulary.extended`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Literal, Mapping

import yaml

Kind = Literal["modality", "area", "task"]
KINDS: tuple[Kind, ...] = ("modality", "area", "task")
_PLURAL = {"modality": "modalities", "area": "areas", "task": "tasks"}


class UnknownTermError(ValueError):
    """A modality/area/task that the vocabulary does not know, with close suggestions."""

    def __init__(self, kind: str, value: str, suggestions: list[str]):
        self.kind, self.value, self.suggestions = kind, value, suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} {value!r}{hint}")


def fold(text: str) -> str:
    """Case-, space-, dash- and punctuation-insensitive key used for alias matching."""
    return re.sub(r"[\s\-_.,/()]+", "", str(text).casefold())


@dataclass(frozen=True)
class Term:
    kind: Kind
    name: str
    aliases: tuple[str, ...] = ()
    family: str | None = None  # tasks only


@dataclass(frozen=True)
class Vocabulary:
    terms: Mapping[Kind, tuple[Term, ...]] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping) -> "Vocabulary":
        terms: dict[Kind, tuple[Term, ...]] = {}
        for kind in KINDS:
            rows = data.get(_PLURAL[kind], []) or []
            terms[kind] = tuple(_term(kind, row) for row in rows)
        vocab = cls(terms)
        vocab._check_unique()
        return vocab

    def extended(self, data: Mapping) -> "Vocabulary":
        """A new vocabulary with the terms of ``data`` (same shape as vocab.yaml) added.

        Re-declaring an existing canonical name merges its aliases; an alias that already
        points at a different term is an error.
        """
        merged: dict[Kind, list[Term]] = {k: list(self.terms.get(k, ())) for k in KINDS}
        for kind in KINDS:
            for row in data.get(_PLURAL[kind], []) or []:
                new = _term(kind, row)
                idx = next((i for i, t in enumerate(merged[kind]) if t.name == new.name), None)
                if idx is None:
                    merged[kind].append(new)
                else:
                    old = merged[kind][idx]
                    aliases = tuple(dict.fromkeys(old.aliases + new.aliases))
                    merged[kind][idx] = Term(kind, old.name, aliases, old.family or new.family)
        vocab = Vocabulary({k: tuple(v) for k, v in merged.items()})
        vocab._check_unique()
        return vocab

    def _check_unique(self) -> None:
        for kind in KINDS:
            seen: dict[str, str] = {}
            for term in self.terms.get(kind, ()):
                for spelling in (term.name, *term.aliases):
                    key = fold(spelling)
                    if key in seen and seen[key] != term.name:
                        raise ValueError(
                            f"{kind} spelling {spelling!r} names both {seen[key]!r} and {term.name!r}"
                        )
                    seen[key] = term.name

    # -- queries --------------------------------------------------------------------
    def names(self, kind: Kind) -> list[str]:
        return [t.name for t in self.terms.get(kind, ())]

    def term(self, kind: Kind, value: str) -> Term:
        index = self._index(kind)
        key = fold(value)
        if key in index:
            return index[key]
        raise UnknownTermError(kind, value, self.suggest(kind, value))

    def normalize(self, kind: Kind, value: str) -> str:
        """The canonical name of ``value``; raises :class:`UnknownTermError` naming the closest."""
        return self.term(kind, value).name

    def family(self, task: str) -> str:
        """The task family (coarse finding) of a task; a task without one is its own family."""
        term = self.term("task", task)
        return term.family or term.name

    def family_or_self(self, task: str) -> str:
        """The family of a known task, else the task itself: no error (and no costly
        did-you-mean search) for tasks outside the vocabulary, such as synthetic ones."""
        term = self._index("task").get(fold(task))
        return task if term is None else (term.family or term.name)

    def suggest(self, kind: Kind, value: str, n: int = 3) -> list[str]:
        spellings = {}
        for term in self.terms.get(kind, ()):
            for s in (term.name, *term.aliases):
                spellings.setdefault(fold(s), term.name)
        close = difflib.get_close_matches(fold(value), list(spellings), n=n * 3, cutoff=0.5)
        out = list(dict.fromkeys(spellings[c] for c in close))[:n]
        if not out:  # fall back to a plain similarity ranking so the error always helps
            ranked = sorted(
                self.names(kind),
                key=lambda s: -difflib.SequenceMatcher(None, fold(value), fold(s)).ratio(),
            )
            out = ranked[:n]
        return out

    def _index(self, kind: Kind) -> dict[str, Term]:
        cache = self.__dict__.setdefault("_cache", {})
        if kind not in cache:
            cache[kind] = {
                fold(s): t for t in self.terms.get(kind, ()) for s in (t.name, *t.aliases)
            }
        return cache[kind]

    def as_dict(self) -> dict:
        return {
            _PLURAL[k]: [
                {"name": t.name, "aliases": list(t.aliases), **({"family": t.family} if t.family else {})}
                for t in self.terms.get(k, ())
            ]
            for k in KINDS
        }


def _term(kind: Kind, row) -> Term:
    if isinstance(row, str):
        return Term(kind, row)
    if not isinstance(row, Mapping) or "name" not in row:
        raise ValueError(f"a {kind} entry needs a 'name': {row!r}")
    aliases = row.get("aliases") or []
    if isinstance(aliases, str):
        aliases = [aliases]
    return Term(kind, str(row["name"]), tuple(str(a) for a in aliases), row.get("family"))


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The built-in vocabulary shipped as ``medmat/mat/vocab.yaml``."""
    text = resources.files("medmat.mat").joinpath("vocab.yaml").read_text(encoding="utf-8")
    return Vocabulary.from_mapping(yaml.safe_load(text))


def normalize(kind: Kind, value: str, vocab: Vocabulary | None = None) -> str:
    return (vocab or default_vocabulary()).normalize(kind, value)


def iter_terms(vocab: Vocabulary, kind: Kind) -> Iterable[Term]:
    return iter(vocab.terms.get(kind, ()))
