"""A tiny VQA store for the planner's tests (no images, only items).

Seen from the target CT/Lung/COVID-19 Classification ("03") every direction type has
exactly one combination, three subsets share nothing with it, one subset is target-like
(same modality, area and task family), and one training image of subset "04" is planted
as a copy of a target test image, so leak removal has something to remove.
"""

from __future__ import annotations

from pathlib import Path

from medmat.config import DEFAULT_CAP
from medmat.io import stable_hash, write_json, write_jsonl
from medmat.records import VQAItem, format_question_choice

# id -> (triplet, labels)
DEMO_SUBSETS: dict[str, tuple[str, list[str]]] = {
    "03": ("CT/Lung/COVID-19 Classification", ["covid", "normal"]),          # the demo target
    "04": ("CT/Lung/Lung Cancer Classification", ["adenocarcinoma", "benign", "normal"]),  # {M, A}
    "k1": ("CT/Kidney/COVID-19 Classification", ["covid", "normal"]),        # {M, T}
    "x1": ("X-ray/Lung/COVID-19 Classification", ["covid", "normal", "viral"]),  # {A, T}
    "x2": ("X-ray/Chest/COVID-19 and Pneumonia Classification", ["covid", "pneumonia"]),  # {T}
    "b1": ("CT/Brain/Brain Hemorrhage Classification", ["bleed", "none"]),   # {M}
    "m1": ("MRI/Lung/Tumor Classification", ["tumor", "none"]),              # {A}
    "d1": ("Dermoscopy/Skin/Melanoma Type Classification", ["melanoma", "naevus"]),  # {}
    "f1": ("Fundus Photography/Fundus/Eye Diseases Classification", ["amd", "dr", "normal"]),  # {}
    "o1": ("OCT/Retina/Retina Diseases Classification", ["cnv", "normal"]),  # {}, no OCT partner
    "t2": ("CT/Lung/COVID-19 and Pneumonia Classification", ["covid", "pneumonia"]),  # target-like
}
DEMO_TARGET = "CT/Lung/COVID-19 Classification"


def demo_items(n_train: int = 30, n_test: int = 8, sizes: dict[str, tuple[int, int]] | None = None,
               leak: bool = True) -> list[VQAItem]:
    """Items of every demo subset; ``sizes`` overrides (n_train, n_test) per subset."""
    items: list[VQAItem] = []
    for sid, (triplet, labels) in DEMO_SUBSETS.items():
        ntr, nte = (sizes or {}).get(sid, (n_train, n_test))
        for split, n in (("train", ntr), ("test", nte)):
            for i in range(n):
                label = labels[i % len(labels)]
                options = sorted(labels)[:4]
                item_id = f"{sid}-{split}-{i:04d}"
                items.append(VQAItem(
                    id=len(items), caption="", image=f"images/{sid}/{split}{i}.png",
                    question="What does this image show?", answer=label,
                    question_choice=format_question_choice("What does this image show?", options),
                    answer_choice="ABCD"[options.index(label)], data_no=sid, item_id=item_id,
                    triplet=triplet, subset=sid, split=split, dataset=f"ds-{sid}", source_record=item_id,
                    options=options, answer_index=options.index(label), labels=[label],
                    image_hash=stable_hash("img", sid, split, i, n=64),
                ))
    if leak:  # the planted duplicate: a training image of "04" equals the target's first test image
        target_test = next((it for it in items if it.subset == "03" and it.split == "test"), None)
        copy = next((it for it in items if it.subset == "04" and it.split == "train"), None)
        if target_test and copy:
            copy.image_hash = target_test.image_hash
    return items


def write_demo_store(root: str | Path, **kw) -> Path:
    """Write items.jsonl and store.json of the demo store under ``root``."""
    root = Path(root)
    items = demo_items(**kw)
    write_jsonl(root / "items.jsonl", (it.to_dict() for it in items))
    write_json(root / "store.json", {
        "version": 1, "seed": 0, "cap": DEFAULT_CAP,
        "subsets": [{"id": sid, "triplet": t, "labels": sorted(labels)} for sid, (t, labels) in DEMO_SUBSETS.items()],
    })
    return root
