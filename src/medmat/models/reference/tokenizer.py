"""A deterministic word tokenizer: a vocabulary learned from training texts.

Why words and not sub-words: options are label names ("Cyst", "Tumor"); a label word
learned while training on one MAT combination must mean the same on another, and a whole
word per id makes that sharing exact.

Words never seen in training (every word of the zero-shot arm, a target's label words for
an arm that never saw them) map to padding by default (``n_hash = 0``): they contribute
nothing, so options made only of unseen words get identical scores and a model that never
learned a target's label words answers it at chance (ties go to the earliest letter, and
the builder balances the correct letter, so that is chance to within one item). With
``n_hash > 0`` they fall back to one of ``n_hash`` buckets chosen by a stable hash (the
behaviour of medmat 0.1): every word gets an untrained but fixed embedding, and an unseen
option's score is decided by how that random vector aligns with learned features.

Id layout: 0 = padding, 1..n_hash = hash buckets, n_hash+1.. = vocabulary words.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Iterable

_WORD = re.compile(r"[a-z0-9]+")
PAD = 0


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric runs: 'COVID-19' -> ['covid', '19']."""
    return _WORD.findall(text.lower())


def hash_bucket(word: str, n_hash: int) -> int:
    """Stable bucket (1..n_hash) of a word: the same on every machine and run; PAD (0)
    when there are no buckets (``n_hash = 0``: unseen words contribute nothing)."""
    if n_hash <= 0:
        return PAD
    digest = hashlib.sha256(word.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n_hash


class WordTokenizer:
    def __init__(self, n_hash: int, vocab: Iterable[str] = ()):
        self.n_hash = n_hash
        self.vocab: list[str] = []
        self._index: dict[str, int] = {}
        self.add(vocab)

    def __len__(self) -> int:
        """Number of embedding rows needed (pad + buckets + vocabulary)."""
        return 1 + self.n_hash + len(self.vocab)

    def add(self, new_words: Iterable[str]) -> list[str]:
        """Append words not yet known, in the given order; returns the ones added."""
        added = []
        for w in new_words:
            if w not in self._index:
                self._index[w] = 1 + self.n_hash + len(self.vocab)
                self.vocab.append(w)
                added.append(w)
        return added

    @staticmethod
    def vocabulary_of(texts: Iterable[str], min_count: int = 1) -> list[str]:
        """Words of ``texts`` by decreasing count, ties alphabetical: a fixed order."""
        counts = Counter(w for t in texts for w in words(t))
        return [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]

    def word_id(self, word: str) -> int:
        idx = self._index.get(word)
        return idx if idx is not None else hash_bucket(word, self.n_hash)

    def is_known(self, word: str) -> bool:
        return word in self._index

    def encode(self, text: str) -> list[int]:
        """Ids of the words of ``text``; unseen words are PAD when there are no hash
        buckets; a text of no known word gives [PAD] (pooling ignores padding)."""
        ids = [i for i in (self.word_id(w) for w in words(text)) if i != PAD]
        return ids or [PAD]

    def to_dict(self) -> dict:
        return {"n_hash": self.n_hash, "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, d: dict) -> "WordTokenizer":
        return cls(int(d["n_hash"]), d["vocab"])
