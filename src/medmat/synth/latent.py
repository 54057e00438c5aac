"""The latent description of one synthetic image and the generator's configuration.

A :class:`Latent` holds everything that decides an image: its triplet, label, organ pose,
the findings (lesions, quality) and the seed of the remaining nuisance (textures, noise).
``render(latent, size)`` is a pure function of it, so the latents file alone can rebuild
(or audit) every image.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_SIZE, MAX_SIZE = 64, 224
"""Image sides the renderer supports (its precomputed grids, ``synth/grids.py``)."""


Shape = Literal["round", "spiculated", "elongated"]
Quality = Literal["good", "blurred", "noisy"]
LESION_CONTRAST = 0.35  # added to the tissue map: the same relative contrast everywhere


class Lesion(BaseModel):
    """One finding, in normalised image coordinates (x left->right, y top->bottom, [-1, 1])."""

    model_config = ConfigDict(frozen=True)
    x: float
    y: float
    r: float = Field(gt=0)
    shape: Shape = "round"
    angle: float = 0.0
    contrast: float = LESION_CONTRAST


class Pose(BaseModel):
    """Organ placement nuisance: shift, scale and in-plane rotation (radians)."""

    model_config = ConfigDict(frozen=True)
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    angle: float = 0.0


class Latent(BaseModel):
    """Everything that determines one image; ``seed`` drives textures and noise only."""

    model_config = ConfigDict(frozen=True)
    id: str
    modality: str
    area: str
    task: str  # canonical task name (vocabulary extension of the design)
    label: str
    seed: int
    index: int = 0  # position among the images of its (triplet, label)
    split: Literal["train", "test"] = "train"
    pose: Pose = Pose()
    lesions: tuple[Lesion, ...] = ()
    quality: Quality = "good"
    path: str = ""  # file path relative to out_dir (set by sample_latents)

    def without_lesions(self) -> "Latent":
        """The same image with every finding removed (used by tests and audits)."""
        return self.model_copy(update={"lesions": ()})


class SynthConfig(BaseModel):
    """Configuration of ``generate``/``sample_latents``.

    ``triplets`` (as ``"M/A/T"`` text) default to the shipped sparse design; ``modalities``,
    ``areas`` and ``tasks`` then keep only triplets whose elements are listed (None = all).
    Each (triplet, label) gets ``per_label`` images, ``round(per_label * test_fraction)`` of
    them in the test split. Same config -> byte-identical output.
    """

    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    size: int = 64
    per_label: int = Field(40, ge=1)
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    triplets: list[str] | None = None
    modalities: list[str] | None = None
    areas: list[str] | None = None
    tasks: list[str] | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, v: int) -> int:
        if not MIN_SIZE <= v <= MAX_SIZE:
            raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {v}")
        return v

    def n_test(self) -> int:
        """Test images per (triplet, label): at least one when a test split is asked for."""
        if self.test_fraction <= 0 or self.per_label < 2:
            return 0
        return min(self.per_label - 1, max(1, int(round(self.per_label * self.test_fraction))))
