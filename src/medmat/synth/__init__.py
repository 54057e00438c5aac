"""The synthetic MAT benchmark: controlled modality x area x findings, written as ordinary
raw datasets plus a user catalog, so compositional generalization can be studied on a CPU.

Public API (stable; see docs/synth.md)::

    SynthConfig, Latent, Lesion, Pose          # pydantic models
    render(latent, size) -> np.ndarray         # (H, W, 3) uint8, pure and deterministic
    sample_latents(config) -> list[Latent]
    generate(out_dir, config, workers=1, progress=None) -> SynthSummary
    contact_sheet(out_path, size=64, seed=0, task="presence") -> Path
    load_design(), cg_targets(triplets=None, min_directions=1), direction_pairs(target, pool)
    dataset_id(triplet)                        # dataset == subset id of a triplet

Laterality labels ('left'/'right') are image sides: never flip-augment that task.
"""

from medmat.synth.design import CGTarget, Design, cg_targets, direction_pairs, load_design
from medmat.synth.latent import Latent, Lesion, Pose, SynthConfig
from medmat.synth.render import render
from medmat.synth.sample import dataset_id, sample_latents
from medmat.synth.sheet import contact_sheet
from medmat.synth.writer import SynthSummary, generate

__all__ = [
    "CGTarget", "Design", "Latent", "Lesion", "Pose", "SynthConfig", "SynthSummary", "cg_targets",
    "contact_sheet", "dataset_id", "direction_pairs", "generate", "load_design", "render", "sample_latents",
]

