"""The MAT triplet: an immutable (modality, area, task) value with a stable text form."""

from __future__ import annotations

from dataclasses import dataclass

from medmat.mat.vocab import Vocabulary, default_vocabulary

SEP = "/"


@dataclass(frozen=True, order=True)
class Triplet:
    """A canonical (Modality, Anatomical area, Task) triplet.

    ``str(t)`` gives ``"CT/Lung/COVID-19 Classification"`` and ``Triplet.parse`` of that
    text gives ``t`` back. Construct through :meth:`of` or :meth:`parse` to normalise
    spellings; the raw constructor trusts its arguments to be canonical already.
    """

    modality: str
    area: str
    task: str

    def __post_init__(self) -> None:
        for name in ("modality", "area", "task"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"triplet {name} must be a non-empty string, got {value!r}")
            if SEP in value and name != "task":
                raise ValueError(f"triplet {name} may not contain {SEP!r}: {value!r}")

    @classmethod
    def of(cls, modality: str, area: str, task: str, vocab: Vocabulary | None = None) -> "Triplet":
        v = vocab or default_vocabulary()
        return cls(v.normalize("modality", modality), v.normalize("area", area), v.normalize("task", task))

    @classmethod
    def parse(cls, text: str, vocab: Vocabulary | None = None) -> "Triplet":
        """Parse ``"M/A/T"``. The task may itself contain '/' (``Lesion Det/Seg``)."""
        parts = str(text).split(SEP, 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"a triplet is written 'Modality/Area/Task', got {text!r}")
        return cls.of(*(p.strip() for p in parts), vocab=vocab)

    def __str__(self) -> str:
        return f"{self.modality}{SEP}{self.area}{SEP}{self.task}"

    def shared(self, other: "Triplet", vocab: Vocabulary | None = None) -> frozenset[str]:
        """Which elements two triplets share: a subset of {'modality', 'area', 'task'}.

        Tasks are compared by family (COVID-19 on CT and on X-ray is the same task).
        """
        v = vocab or default_vocabulary()
        out = set()
        if self.modality == other.modality:
            out.add("modality")
        if self.area == other.area:
            out.add("area")
        if _family(v, self.task) == _family(v, other.task):
            out.add("task")
        return frozenset(out)

    def as_dict(self) -> dict[str, str]:
        return {"modality": self.modality, "area": self.area, "task": self.task}


def _family(vocab: Vocabulary, task: str) -> str:
    return vocab.family_or_self(task)
