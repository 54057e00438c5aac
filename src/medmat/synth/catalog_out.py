"""The user catalog a synthetic run writes: vocabulary extension, subsets, datasets.

One subset and one dataset per triplet, both named by ``dataset_id``; the dataset has a
``class_folders`` layout with train/test split folders relative to ``OUT/raw``. Templates
are the design's per-task patterns filled with the modality and area phrases.
"""

from __future__ import annotations

from typing import Any

from medmat.mat import Triplet
from medmat.synth.design import Design
from medmat.synth.latent import SynthConfig
from medmat.synth.sample import dataset_id, small_triplets


def templates_for(triplet: Triplet, design: Design) -> list[str]:
    task = design.task(triplet.task)
    m, a = design.modalities[triplet.modality], design.areas[triplet.area]
    return [tpl.format(modality=m, area=a) for tpl in task.templates]


def build_catalog(triplets: list[Triplet], design: Design, config: SynthConfig,
                  localisation: list[Triplet] = ()) -> dict[str, Any]:
    """The user catalog of a run; ``localisation`` triplets (box tables) come after the others."""
    from medmat.synth.localisation import catalog_entries

    subsets, datasets = [], []
    small = small_triplets(config, triplets)
    for t in triplets:
        ident = dataset_id(t, design)
        labels = list(design.task(t.task).labels)
        common = {"modality": t.modality, "area": t.area, "task": t.task, "kind": "classification"}
        subsets.append({"id": ident, **common, "multi_label": False, "labels": list(labels),
                        "templates": templates_for(t, design)})
        splits = {"train": "train", "test": "test"} if config.n_test() else {"train": "train"}
        datasets.append({
            "id": ident, "name": f"Synthetic {t.modality} {t.area} {t.task}", **common, "subset": ident,
            "labels": list(labels),  # separate lists: no YAML anchors in the file
            "layout": {"type": "class_folders", "root": ident, "split_dirs": splits, "extensions": [".png"]},
            "access": "synthetic", "licence": "CC0-1.0",
            "notes": f"medmat synth, seed {config.seed}, {config.size} px, {config.per_label} per label; "
                     "layout roots are relative to OUT/raw" + (
                         f"; small: {config.small_train} training images per label" if str(t) in small else ""),
        })
    for t in localisation:
        sub, ds = catalog_entries(t, dataset_id(t, design), design, config,
                                  (design.modalities[t.modality], design.areas[t.area]))
        subsets.append(sub)
        datasets.append(ds)
    return {"vocabulary": design.vocabulary_extension(bool(localisation)), "subsets": subsets, "datasets": datasets}
