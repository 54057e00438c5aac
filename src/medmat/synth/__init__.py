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

from medmat.lazy import lazy_exports

_EXPORTS = {
    "CGTarget": "design",
    "Design": "design",
    "Latent": "latent",
    "Lesion": "latent",
    "Pose": "latent",
    "SynthConfig": "latent",
    "SynthSummary": "writer",
    "cg_targets": "design",
    "contact_sheet": "sheet",
    "dataset_id": "sample",
    "direction_pairs": "design",
    "generate": "writer",
    "load_design": "design",
    "render": "rendering",
    "sample_latents": "sample",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
