"""The build stage's config (``medmat build``, ``medmat import-medmat``, a study's ``data:``)
and the unit of stage-1 work (one dataset to read and materialise).

A build reads exactly one kind of input: the synthetic benchmark (``synth``), catalog
datasets under a ``data_root`` (built-in and/or user ``catalogs``), one ad-hoc dataset
(``adhoc``), or released Med-MAT json files (``medmat_json`` + ``image_root``). The other
fields say how the store is made and are the same for every input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from medmat.config import DEFAULT_CAP, StrictConfig
from medmat.synth.latent import SynthConfig


class AdhocDataset(StrictConfig):
    """One dataset described by flags instead of a catalog entry."""

    layout: str = Field(description="Layout type (class_folders, medmat_json ...).")
    root: str = Field(description="The dataset's folder (or json file).")
    triplet: str = Field(description="'Modality/Area/Task'.")
    dataset_id: str = Field(description="Its id (a lower-case slug).")
    subset_id: str | None = Field(None, description="Subset id (default: the dataset id).")
    split_dirs: dict[str, str] = Field(default_factory=dict, description="Class folders: {train: tr, test: te}.")


class BuildSettings(StrictConfig):
    """How a store is made, whatever it is made from (what stage 1 and stage 2 read)."""

    seed: int = Field(0, description="Every split, distractor, template and letter choice derives from it.")
    cap: int | None = Field(DEFAULT_CAP, ge=0, description="Per-subset train cap recorded in the store (0 = none).")
    max_side: int | None = Field(None, ge=1, description="Longest image side in the store (none = keep size).")
    fmt: Literal["auto", "png", "jpeg"] = Field("auto", description="Stored image format (auto: lossless stays PNG).")
    workers: int = Field(1, ge=1, description="Processes that materialise images.")
    merge_val: bool = Field(True, description="Dataset 'val' splits count as train (Med-MAT has train and test).")
    strict: bool = Field(False, description="Fail when anything was skipped (after writing).")
    # Per-file limits (medmat.imaging.limits): a file that breaks one is a skip naming it.
    file_timeout_s: float = Field(120.0, gt=0, description="Seconds one image file may take to decode in its worker "
                                                            "process; a slower file is stopped and skipped ('time-limit').")
    max_pixels: int = Field(89_478_485, ge=1, description="Most pixels (voxels) one image, frame stack or volume may "
                                                          "decode to; more is Skip('decompression-bomb'). PIL's default.")
    max_decoded_mb: int = Field(1024, ge=1, description="Most megabytes one file's decoded pixel data may take, from "
                                                        "its header, before decoding; more is Skip('memory-limit').")
    worker_memory_mb: int = Field(4096, ge=64, description="Memory a decoding worker may add beyond its start size; a "
                                                           "file that needs more is Skip('memory-limit').")
    builders: dict[str, str] = Field(default_factory=dict, description="Question builder per subset id (choice, "
                                     "box-choice, grounding, presence, count), overriding the catalog's choice "
                                     "(default: choice for classification, box-choice for detection/segmentation).")

    @field_validator("builders")
    @classmethod
    def _builders(cls, v: dict[str, str]) -> dict[str, str]:
        from medmat.registry import UnknownNameError
        from medmat.vqa.builders import QUESTION_BUILDERS

        for sid, name in v.items():
            try:
                QUESTION_BUILDERS.get(name)
            except UnknownNameError as e:
                raise ValueError(f"builders[{sid!r}]: {e}") from None
        return dict(sorted(v.items()))

    @property
    def cap_value(self) -> int | None:
        """The cap as the store records it: None when uncapped."""
        return self.cap or None

    def file_limits(self):
        """These settings as the ``medmat.imaging.limits.FileLimits`` the readers and workers take."""
        from medmat.imaging.limits import MB, FileLimits

        return FileLimits(timeout_s=self.file_timeout_s, max_pixels=self.max_pixels,
                          max_decoded_bytes=self.max_decoded_mb * MB, worker_memory_bytes=self.worker_memory_mb * MB)

    def stage1_key(self) -> dict[str, Any]:
        """The settings that change stage-1 output (part of its fingerprint)."""
        return {"max_side": self.max_side, "fmt": self.fmt, "max_pixels": self.max_pixels,
                "max_decoded_mb": self.max_decoded_mb}


class BuildConfig(BuildSettings):
    """What a VQA store is built from, and how. Paths are relative to the study file (or the
    working folder)."""

    synth: SynthConfig | None = Field(None, description="Generate the synthetic MAT benchmark and build it.")
    catalogs: list[str] = Field(default_factory=list, description="User catalog YAML files (repeatable).")
    data_root: str | None = Field(None, description="Folder the catalog layouts are relative to.")
    datasets: list[str] = Field(default_factory=list,
                                description="Catalog dataset ids; empty = every released one found under data_root.")
    adhoc: AdhocDataset | None = Field(None, description="One dataset described by flags.")
    medmat_json: list[str] = Field(default_factory=list, description="Released Med-MAT json files (globs allowed).")
    image_root: str | None = Field(None, description="Folder the released records' image paths start from.")
    subset_id: str | None = Field(None, description="Import: put every record in this catalog subset.")
    split: Literal["auto", "train", "test"] = Field("auto", description="Import: auto (stratified 9:1), train or test.")
    @model_validator(mode="before")
    @classmethod
    def _legacy_synth_options(cls, data: Any) -> Any:
        """Study files of medmat 0.1 wrote ``synth: {seed, size, per_label, options: {...}}``."""
        if isinstance(data, dict) and isinstance(data.get("synth"), dict) and "options" in data["synth"]:
            synth = dict(data["synth"])
            synth.update(synth.pop("options") or {})
            data = {**data, "synth": synth}
        return data

    @model_validator(mode="after")
    def _one_input(self) -> "BuildConfig":
        kinds = [name for name, on in (("synth", self.synth is not None), ("data_root", bool(self.data_root)),
                                       ("adhoc", self.adhoc is not None), ("medmat_json", bool(self.medmat_json)))
                 if on]
        if not kinds:
            raise ValueError("a build needs `synth`, a `data_root` (raw datasets of the built-in or user `catalogs`), "
                             "an `adhoc` dataset, or `medmat_json` (released Med-MAT files + `image_root`)")
        if len(kinds) > 1:
            raise ValueError(f"a build reads one kind of input, got {' and '.join(kinds)}; "
                             "run separate builds (or studies) for each")
        if self.medmat_json and not self.image_root:
            raise ValueError("`medmat_json` needs `image_root`, the folder the records' image paths start from")
        return self


@dataclass
class DatasetJob:
    """One dataset to read: what ``medmat.sources.read_dataset`` needs, and its subset."""

    id: str
    subset: str
    layout: Any  # a catalog Layout model
    labels: list[str] | None = None
    label_aliases: dict[str, str] = field(default_factory=dict)
    data_root: Path | None = None  # this dataset's own root; None = the build's data root
