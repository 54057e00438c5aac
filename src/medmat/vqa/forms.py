"""What the question builders other than ``choice`` share: their templates, the per-item
draw, letter positions and item numbering, so every builder is seeded and letter-balanced
the way ``medmat.vqa.builder`` is.

Templates name the finding as ``{finding}`` (replaced as plain text; other braces stay as
they are). Box questions (``box-choice``, ``grounding``) use the subset's own templates
when they name the finding, else the builder's generic ``locate`` templates; ``presence``
and ``count`` questions always use their own (``questions.yaml`` beside this module), since
a subset's templates ask something else.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator

import yaml

from medmat.vqa.builder import SubsetSpec, _position_stream

PLACEHOLDER = "{finding}"


@lru_cache(maxsize=1)
def builder_templates() -> dict[str, tuple[str, ...]]:
    """The builders' own templates (``questions.yaml``): form -> templates."""
    text = resources.files("medmat.vqa").joinpath("questions.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    out = {form: tuple(str(t) for t in rows) for form, rows in data.items()}
    for form, rows in out.items():
        if not rows or any(PLACEHOLDER not in t for t in rows):
            raise ValueError(f"questions.yaml: every {form!r} template must name {PLACEHOLDER}")
    return out


def locate_templates(spec: SubsetSpec) -> list[str]:
    """Templates of box questions: the subset's own when they name the finding, else generic ones."""
    own = [t for t in spec.templates if PLACEHOLDER in t]
    if own and len(own) != len(spec.templates):
        raise ValueError(f"subset {spec.id!r}: some templates name {PLACEHOLDER} and others do not; a box "
                         f"question needs the finding in every template")
    return own or list(builder_templates()["locate"])


def fill(template: str, finding: str) -> str:
    return template.replace(PLACEHOLDER, finding)


def draw(seed: int, iid: str, n_templates: int) -> tuple[int, random.Random]:
    """A template index and a generator for everything else drawn for item ``iid``."""
    d = hashlib.sha256(f"{seed}\x1f{iid}".encode()).digest()
    return int.from_bytes(d[:4], "big") % n_templates, random.Random(int.from_bytes(d[4:12], "big"))


def positions(subset_id: str, seed: int, keys: list[tuple[str, int]]) -> Iterator[int]:
    """The correct position of each item, given (split, number of options) per item in item
    order: consecutive seeded permutations per (split, n), as the choice builder does."""
    streams: dict[tuple[str, int], Iterator[int]] = {}
    for split, n in keys:
        stream = streams.get((split, n))
        if stream is None:
            stream = streams[(split, n)] = _position_stream(seed, f"{subset_id}\x1f{split}", n)
        yield next(stream)


def ordered(drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drafts in item order: (split, item id), as every builder numbers its items."""
    return sorted(drafts, key=lambda d: (d["split"], d["item_id"]))
