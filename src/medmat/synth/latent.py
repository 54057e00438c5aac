"""The latent description of one synthetic image and the generator's configuration.

A :class:`Latent` holds everything that decides an image: its triplet, label, organ pose,
the findings (lesions, quality) and the seed of the remaining nuisance (textures, noise).
``render(latent, size)`` is a pure function of it, so the latents file alone can rebuild
(or audit) every image.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

MIN_SIZE, MAX_SIZE = 64, 224
"""Image sides the renderer supports (its precomputed grids, ``synth/grids.py``)."""


Shape = Literal["round", "spiculated", "elongated"]
Quality = Literal["good", "blurred", "noisy"]
LESION_CONTRAST = 0.35  # added to the tissue map: the same relative contrast everywhere


def _without_defaults(handler, value: BaseModel, fields: dict[str, object]) -> dict:
    """The model's dump minus the listed fields where they hold their default: settings added
    after a format was fixed stay out of files (and content keys) that do not use them."""
    data = handler(value)
    for name, default in fields.items():
        if data.get(name) == default:
            data.pop(name, None)
    return data


class Lesion(BaseModel):
    """One finding, in normalised image coordinates (x left->right, y top->bottom, [-1, 1]).

    ``rim``, ``texture``, ``edge`` and ``halo`` describe how the finding looks when the
    entanglement dial is on (``synth/dial.py``); at their defaults it is the plain blob of
    fixed contrast and the file rows are those of a generator without the dial.
    """

    model_config = ConfigDict(frozen=True)
    x: float
    y: float
    r: float = Field(gt=0)
    shape: Shape = "round"
    angle: float = 0.0
    contrast: float = LESION_CONTRAST  # added inside the outline (negative: a darker finding)
    rim: float = 0.0  # added on a band along the outline
    texture: float = 0.0  # amplitude of a two-band pattern across the finding
    edge: float = 1.0  # width of the soft outline, in pixels
    halo: float = 0.0  # added on a ring just outside the outline (surrounding context)

    @property
    def plain(self) -> bool:
        """Drawn as the dial-free blob (no rim, texture, halo, standard edge)?"""
        return self.rim == 0.0 and self.texture == 0.0 and self.edge == 1.0 and self.halo == 0.0

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _without_defaults(handler, self, LOOK_DEFAULTS)


LOOK_DEFAULTS: dict[str, object] = {"rim": 0.0, "texture": 0.0, "edge": 1.0, "halo": 0.0}


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

    Small subsets (the paper's out-of-distribution sets are the subsets below its cap): a
    ``small_fraction`` of the triplets, drawn by ``small_seed`` (not by ``seed``, so every
    seed of a study has the same small triplets), keeps its test images but only
    ``small_train`` training images per label (the first ones of the full set).

    Entanglement dial (``synth/dial.py``): at ``modality_effect`` 0 a finding looks alike in
    every modality, at 1 its polarity, rim, texture and edge depend on the modality;
    ``area_effect`` does the same for its scale and surrounding halo by area. Labels stay
    recoverable at every setting.

    Localisation (``localisation``, ``localisation_seed``): extra detection datasets of the
    task Lesion Localisation, one lesion per image with its box written in a box table
    (``synth/localisation.py``); the classification triplets are unchanged by them. New
    settings at their defaults leave every byte (images,
    files, content keys) as before they existed.
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
    small_fraction: float = Field(0.0, ge=0.0, le=1.0, description="Share of the triplets made small.")
    small_train: int | None = Field(None, ge=1, description="Training images per label of a small triplet.")
    small_seed: int = Field(0, description="Seed of the draw of the small triplets (fixed across study seeds).")
    modality_effect: float = Field(0.0, ge=0.0, le=1.0, description="How much a finding's look depends on the modality.")
    area_effect: float = Field(0.0, ge=0.0, le=1.0, description="How much a finding's look depends on the area.")
    localisation: int | list[str] = Field(0, description=(
        "Localisation datasets (Lesion Localisation, box annotations): how many (modality, area) pairs, "
        "drawn by the seeded rule of synth/localisation.py, or which ('Modality/Area'); 0: none."))
    localisation_seed: int = Field(0, description="Seed of the localisation draw (fixed across study seeds).")

    @field_validator("size")
    @classmethod
    def _size(cls, v: int) -> int:
        if not MIN_SIZE <= v <= MAX_SIZE:
            raise ValueError(f"size must be within {MIN_SIZE}..{MAX_SIZE}, got {v}")
        return v

    @model_validator(mode="after")
    def _small(self) -> "SynthConfig":
        if self.small_fraction > 0:
            if self.small_train is None:
                raise ValueError("small_fraction needs small_train (training images per label of a small triplet)")
            if self.small_train >= self.per_label - self.n_test():
                raise ValueError(f"small_train ({self.small_train}) must be below the training images per label "
                                 f"of the other triplets ({self.per_label - self.n_test()})")
        return self

    @field_validator("localisation")
    @classmethod
    def _localisation(cls, v: int | list[str]) -> int | list[str]:
        if isinstance(v, int) and v < 0:
            raise ValueError("localisation is a number of pairs >= 0 or a list of 'Modality/Area'")
        return v

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return _without_defaults(handler, self, SYNTH_DEFAULTS)

    def n_test(self) -> int:
        """Test images per (triplet, label): at least one when a test split is asked for."""
        if self.test_fraction <= 0 or self.per_label < 2:
            return 0
        return min(self.per_label - 1, max(1, int(round(self.per_label * self.test_fraction))))


SYNTH_DEFAULTS: dict[str, object] = {"small_fraction": 0.0, "small_train": None, "small_seed": 0,
                                     "modality_effect": 0.0, "area_effect": 0.0, "localisation": 0,
                                     "localisation_seed": 0}
