"""A synthetic VQA store the size and shape of Med-MAT, for the planner at scale.

The 37 released Med-MAT triplets of the built-in catalog (their ids, triplets and label
lists; 4 made-up labels where the catalog lists none), each with ``n_train`` train and
``n_test`` test items: by default 3,500 + 400, i.e. 155,400 items and a ~70 MB
items.jsonl, the store of ``benchmarks/bench_plan.py``. Items only, no images: the planner
never opens one. One train image in 200 of every subset is a copy of a test image of the
next subset, so leak removal has work to do. Deterministic: the same arguments write the
same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from medmat.io import stable_hash, write_json, write_jsonl
from medmat.records import LETTERS, VQAItem, format_question_choice

QUESTION = "What does this image show?"


def released_subsets() -> list[tuple[str, str, list[str]]]:
    """(id, triplet, labels) of the released Med-MAT subsets, sorted by id."""
    from medmat.catalog import load_catalog

    cat = load_catalog()
    out = []
    for sid, s in sorted(cat.subsets.items()):
        if s.status == "released":
            labels = list(s.labels) or [f"grade {k}" for k in range(4)]
            out.append((sid, f"{s.modality}/{s.area}/{s.task}", labels))
    return out


def medmat_sized_items(n_train: int = 3500, n_test: int = 400, seed: int = 0) -> Iterator[VQAItem]:
    subsets = released_subsets()
    n = 0
    for pos, (sid, triplet, labels) in enumerate(subsets):
        rng = random.Random(f"{seed}-{sid}")
        next_sid = subsets[(pos + 1) % len(subsets)][0]
        for split, count in (("train", n_train), ("test", n_test)):
            for i in range(count):
                label = labels[rng.randrange(len(labels))]
                others = [x for x in labels if x != label]
                options = [label] + rng.sample(others, min(3, len(others)))
                rng.shuffle(options)
                answer = options.index(label)
                item_id = stable_hash("item", sid, split, i, n=16)
                image_hash = stable_hash("img", sid, split, i, n=64)
                if split == "train" and i % 200 == 7 and i // 200 < n_test:
                    image_hash = stable_hash("img", next_sid, "test", i // 200, n=64)  # a planted leak
                yield VQAItem(
                    id=n, caption="", image=f"images/{image_hash[:2]}/{image_hash}.png", question=QUESTION,
                    answer=label, question_choice=format_question_choice(QUESTION, options),
                    answer_choice=LETTERS[answer], data_no=sid, item_id=item_id, triplet=triplet, subset=sid,
                    split=split, dataset=f"ds-{sid}", source_record=f"{sid}/{split}/{i}", options=options,
                    answer_index=answer, labels=[label], image_hash=image_hash,
                )
                n += 1


def write_medmat_store(root: str | Path, n_train: int = 3500, n_test: int = 400, seed: int = 0) -> Path:
    """Write items.jsonl and store.json of the store under ``root``; returns ``root``."""
    root = Path(root)
    write_jsonl(root / "items.jsonl", (it.to_dict() for it in medmat_sized_items(n_train, n_test, seed)))
    write_json(root / "store.json", {
        "version": 1, "seed": seed, "cap": 3000,
        "subsets": [{"id": sid, "triplet": t, "labels": sorted(labels)} for sid, t, labels in released_subsets()],
    })
    return root
