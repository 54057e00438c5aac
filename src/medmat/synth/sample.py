"""Latent sampling: which images exist (triplets x labels x index) and their findings.

Every latent's randomness comes from a seed derived from (config seed, triplet, label,
index) by a stable hash, so any single image can be re-sampled without the others and the
output does not depend on iteration order or worker count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medmat.io import slug, stable_hash
from medmat.mat import Triplet
from medmat.synth.design import Design, TaskDef, load_design
from medmat.synth.dial import ScaledPlacer, blend, dress, is_on
from medmat.synth.findings import FINDINGS, Placer
from medmat.synth.latent import Latent, Pose, SynthConfig


@dataclass(frozen=True)
class Job:
    """One image to make: everything sample_one needs, small enough to send to a worker."""

    triplet: str
    task_key: str
    label: str
    index: int


def dataset_id(triplet: Triplet, design: Design | None = None) -> str:
    """Dataset (and subset) id of a synthetic triplet, e.g. ``synth-ct-brain-presence``."""
    key = (design or load_design()).task(triplet.task).key
    return f"synth-{slug(triplet.modality)}-{slug(triplet.area)}-{key}"


def resolve_triplets(config: SynthConfig, design: Design | None = None) -> list[Triplet]:
    """The config's triplets (default: the design's), filtered by its element subsets."""
    design = design or load_design()
    vocab = design.vocab()
    texts = config.triplets if config.triplets is not None else design.triplets
    out: list[Triplet] = []
    for text in texts:
        t = Triplet.parse(text, vocab)
        if t.modality not in design.modalities or t.area not in design.areas:
            raise ValueError(f"triplet {text!r}: the generator renders modalities "
                             f"{sorted(design.modalities)} and areas {sorted(design.areas)}")
        design.task(t.task)
        out.append(t)
    keep = {
        "modality": {vocab.normalize("modality", m) for m in config.modalities} if config.modalities else None,
        "area": {vocab.normalize("area", a) for a in config.areas} if config.areas else None,
        "task": {design.task(_task_name(design, x)).name for x in config.tasks} if config.tasks else None,
    }
    out = [t for t in out if all(s is None or getattr(t, f) in s for f, s in keep.items())]
    if not out:
        raise ValueError("no triplet left after the modality/area/task filters")
    return list(dict.fromkeys(out))


def _task_name(design: Design, text: str) -> str:
    try:
        return design.vocab().normalize("task", text)
    except ValueError:
        return design.task(text).name  # also accept the short key ('presence')


def small_triplets(config: SynthConfig, triplets: list[Triplet]) -> set[str]:
    """The triplets generated small: ``round(small_fraction * n)`` of them, ranked by a hash
    of ``small_seed`` and the triplet (a draw fixed before anything is trained)."""
    k = int(round(config.small_fraction * len(triplets)))
    if not k:
        return set()
    ranked = sorted((str(t) for t in triplets), key=lambda t: (stable_hash("small", config.small_seed, t), t))
    return set(ranked[:k])


def images_per_label(config: SynthConfig, triplet: str, small: set[str]) -> int:
    """A small triplet keeps its test images and the first ``small_train`` training images."""
    return config.n_test() + config.small_train if triplet in small and config.small_train else config.per_label


def jobs(config: SynthConfig, design: Design | None = None) -> list[Job]:
    design = design or load_design()
    triplets = resolve_triplets(config, design)
    small = small_triplets(config, triplets)
    out = []
    for t in triplets:
        task = design.task(t.task)
        n = images_per_label(config, str(t), small)
        out += [Job(str(t), task.key, label, i) for label in task.labels for i in range(n)]
    from medmat.synth.localisation import localisation_triplets

    for t in localisation_triplets(config, design, triplets):  # none by default: after, never between
        task = design.task(t.task)
        out += [Job(str(t), task.key, label, i) for label in task.labels for i in range(config.per_label)]
    return out


def sample_one(job: Job, config: SynthConfig, design: Design | None = None) -> Latent:
    design = design or load_design()
    t = Triplet.parse(job.triplet, design.vocab())
    task: TaskDef = design.task(job.task_key)
    seed = int(stable_hash("synth", config.seed, job.triplet, job.label, job.index, n=15), 16)
    rng = np.random.default_rng(seed)
    pose = Pose(
        dx=round(float(rng.uniform(-0.05, 0.05)), 5), dy=round(float(rng.uniform(-0.05, 0.05)), 5),
        scale=round(float(rng.uniform(0.93, 1.04)), 5), angle=round(float(rng.uniform(-0.12, 0.12)), 5),
    )
    if is_on(config.modality_effect, config.area_effect):
        look, area_look = blend(t.modality, t.area, config.modality_effect, config.area_effect)
        placer = ScaledPlacer(t.area, pose, rng, scale=area_look.scale)
        lesions, quality = FINDINGS.get(task.key).sample(job.label, rng, placer)
        lesions = dress(lesions, look, area_look.halo)
    else:
        lesions, quality = FINDINGS.get(task.key).sample(job.label, rng, Placer(t.area, pose, rng))
    split = "test" if job.index < config.n_test() else "train"
    image_id = stable_hash("synth-image", config.seed, job.triplet, job.label, job.index, n=16)
    ds = dataset_id(t, design)
    return Latent(
        id=image_id, modality=t.modality, area=t.area, task=t.task, label=job.label, seed=seed, index=job.index,
        split=split, pose=pose, lesions=lesions, quality=quality,
        path=f"raw/{ds}/{split}/{job.label}/{image_id}.png",
    )


def sample_latents(config: SynthConfig) -> list[Latent]:
    """Every image's latent, in design order (triplet, label, index)."""
    design = load_design()
    return [sample_one(j, config, design) for j in jobs(config, design)]
