"""Turn labeled records into Med-MAT single-choice questions (VQAItems).

Why it looks the way it does:

* Options.  A question has up to 4 options: the true label plus distractors drawn from
  the *other* labels of the same subset (the union over its datasets). A 2-label subset
  therefore gives 2 options, a 3-label one 3; an option never repeats.
* Letter balance.  The correct letter is not drawn at random per item (that leaves runs
  and a skewed test set by chance). Within every (subset, split, number of options) the
  items are taken in item_id order and the correct position follows consecutive seeded
  permutations of the positions, so each letter is correct within +-1 of uniform.
* Multi-label policy.  A multi-label image gives **one question per true label** (every
  label is asked about, nothing is dropped). No distractor is ever also a true label of
  the image; when fewer than three non-true labels remain the question has fewer options,
  and when none remains the question is skipped with reason ``no-distractor``.
* Determinism.  ``item_id = stable_hash(subset, record id, label)``; the template and the
  distractors are drawn from a generator seeded by (seed, item_id), so the same records
  and seed give the same items whatever their input order.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from medmat.records import LETTERS, LabeledRecord, Skip, VQAItem, format_question_choice

MAX_OPTIONS = len(LETTERS)


@dataclass
class SubsetSpec:
    """What the builder needs to know about one MAT subset.

    ``labels`` is the union of its datasets' labels (distractor pool); ``templates`` are
    the instruction texts (one is picked per item); ``data_no`` is the Med-MAT "data-no"
    value (the subset number without leading zeros for Med-MAT subsets, else the id);
    ``builder`` names the question builder (``medmat.vqa.builders.QUESTION_BUILDERS``):
    ``choice`` for classification, ``box-choice`` / ``grounding`` / ``presence`` /
    ``count`` for subsets built from boxes.
    """

    id: str
    triplet: str
    labels: list[str]
    templates: list[str]
    multi_label: bool = False
    datasets: list[str] = field(default_factory=list)
    data_no: str = ""
    builder: str = "choice"

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError(f"subset {self.id!r} has no instruction templates")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"subset {self.id!r} lists a label twice: {self.labels}")
        if not self.data_no:
            self.data_no = str(int(self.id)) if self.id.isdigit() else self.id

    def to_dict(self) -> dict:
        d = {
            "id": self.id, "triplet": self.triplet, "labels": list(self.labels),
            "templates": list(self.templates), "multi_label": self.multi_label,
            "datasets": sorted(self.datasets), "data_no": self.data_no,
        }
        if self.builder != "choice":  # a classification subset is recorded as before builders existed
            d["builder"] = self.builder
        return d


def _seed_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def _draw(seed: int, iid: str, n_tpl: int, others: list[str]) -> tuple[int, list[str]]:
    """Template index and distractors from one sha256 of (seed, item_id).

    A seeded ``random.Random`` per item costs more than the rest of the item together;
    the digest's 32 bytes give a template index and a partial Fisher-Yates draw (the
    modulo bias of 32-bit words over <= a few hundred labels is negligible).
    """
    d = hashlib.sha256(f"{seed}\x1f{iid}".encode()).digest()
    tpl = int.from_bytes(d[:4], "big") % n_tpl
    pool = others[:]
    k = min(MAX_OPTIONS - 1, len(pool))
    n = len(pool)
    for j in range(k):
        r = j + int.from_bytes(d[4 + 4 * j: 8 + 4 * j], "big") % (n - j)
        pool[j], pool[r] = pool[r], pool[j]
    return tpl, pool[:k]


def item_key(subset: str, record_id: str, label: str) -> str:
    """Deterministic item id (what manifests list)."""
    return hashlib.sha256(f"{subset}\x1f{record_id}\x1f{label}".encode()).hexdigest()[:16]


def _position_stream(seed: int, key: str, n: int):
    """Correct positions for successive n-option items: consecutive seeded permutations."""
    rng = random.Random(_seed_int(seed, key, n))
    base = list(range(n))
    while True:
        rng.shuffle(base)
        yield from base


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC around an allocation-heavy loop of acyclic objects.

    Building 10^5 items only allocates; each automatic collection rescans the growing
    result list and costs about a quarter of the build time. The previous state is
    restored on exit (also on error).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def build_items(
    records: Iterable[LabeledRecord],
    subset: SubsetSpec,
    splits: dict[str, str],
    seed: int = 0,
) -> tuple[list[VQAItem], list[Skip]]:
    """Questions for one subset. ``splits`` maps record id -> 'train'/'test'.

    Returns the items sorted by (split, item_id), numbered 1.. within the subset (the
    Med-MAT ``id``), and a Skip for every record or label that gave no question.
    """
    with paused_gc():
        return _build_items(records, subset, splits, seed)


def _build_items(records: Iterable[LabeledRecord], subset: SubsetSpec, splits: dict[str, str],
                 seed: int) -> tuple[list[VQAItem], list[Skip]]:
    label_set = set(subset.labels)
    pool_order = list(subset.labels)
    n_tpl = len(subset.templates)
    drafts: list[tuple[str, str, LabeledRecord, str, list[str], int]] = []
    skips: list[Skip] = []
    others_cache: dict[tuple[str, ...], list[str]] = {}  # distractor pool per label tuple
    for rec in records:
        split = splits.get(rec.id)
        if split is None:
            skips.append(Skip(rec.dataset, rec.image, "no-split", f"record {rec.id} has no split assigned"))
            continue
        if not rec.labels:
            skips.append(Skip(rec.dataset, rec.image, "no-label", f"record {rec.id} has no label"))
            continue
        unknown = [lab for lab in rec.labels if lab not in label_set]
        if unknown:
            skips.append(Skip(rec.dataset, rec.image, "unknown-label",
                              f"labels {unknown} not in subset {subset.id} labels {subset.labels}"))
            continue
        key = rec.labels
        others = others_cache.get(key)
        if others is None:
            others = others_cache[key] = [lab for lab in pool_order if lab not in key]
        if not others:
            skips.append(Skip(rec.dataset, rec.image, "no-distractor",
                              f"every label of subset {subset.id} is true for record {rec.id}"))
            continue
        for label in sorted(set(key)):
            iid = item_key(subset.id, rec.id, label)
            tpl, distractors = _draw(seed, iid, n_tpl, others)
            drafts.append((split, iid, rec, label, distractors, tpl))

    drafts.sort(key=lambda d: (d[0], d[1]))
    streams: dict[tuple[str, int], object] = {}
    items: list[VQAItem] = []
    for number, (split, iid, rec, label, distractors, tpl) in enumerate(drafts, 1):
        n = len(distractors) + 1
        stream = streams.get((split, n))
        if stream is None:
            stream = streams[(split, n)] = _position_stream(seed, f"{subset.id}\x1f{split}", n)
        pos = next(stream)  # type: ignore[call-overload]
        options = distractors[:pos] + [label] + distractors[pos:]
        question = subset.templates[tpl]
        qc = format_question_choice(question, options)
        items.append(VQAItem(
            id=number, caption=label, image=rec.image, question=question, answer=label,
            question_choice=qc, answer_choice=LETTERS[pos], data_no=subset.data_no,
            item_id=iid, triplet=subset.triplet, subset=subset.id, split=split, dataset=rec.dataset,
            source_record=rec.id, options=options, answer_index=pos, labels=sorted(rec.labels),
            image_hash=str(rec.meta.get("image_hash", "")), template=tpl,
        ))
    return items, skips


def letter_counts(items: Iterable[VQAItem]) -> dict[str, int]:
    """How often each letter is the answer (for summaries and balance checks); items
    without options (grounding) have no letter and are not counted."""
    out: dict[str, int] = defaultdict(int)
    for it in items:
        if it.options:
            out[it.answer_choice] += 1
    return {k: out[k] for k in sorted(out)}
