"""Settings of the CPU reference model (architecture) and of its training loop (extras).

Two pydantic models because they live in different places: ``ReferenceConfig`` is part of
the model (saved in ``config.json``, fixed once the model exists), ``ReferenceTrainExtra``
is what a run may pass in ``TrainConfig.extra`` (validated here, unknown keys refused).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

THREADS_ENV = "MEDMAT_THREADS"


class ReferenceConfig(BaseModel):
    """Architecture of the reference model.

    image_size   images are decoded once, resized to a square of this side
    color        'gray' folds every modality to one channel: colour is the most
                 modality-specific cue and the first thing that breaks transfer
    channels     CNN widths, one block (conv, group norm, FiLM, ReLU, pool) each
    dim          width of word embeddings and of the joint image-question space
    n_hash       0 (default): words outside the training vocabulary contribute nothing, so
                 an arm that never saw a target's label words scores it at chance;
                 > 0: hashing buckets giving such words an untrained but fixed embedding
                 (medmat 0.1, whose unrelated baselines landed far from chance)
    highpass     add a local-contrast channel (image minus its 7x7 local mean, standardised):
                 a finding is "brighter than its surroundings" in every modality, while
                 absolute brightness and smooth shading are modality- and area-specific
    seed         seed of the random initialisation (the zero-shot arm is exactly this)
    """

    model_config = ConfigDict(extra="forbid")
    image_size: int = Field(64, ge=8, le=512)
    color: Literal["gray", "rgb"] = "gray"
    channels: tuple[int, ...] = (16, 32, 64)
    dim: int = Field(64, ge=4)
    n_hash: int = Field(0, ge=0)
    highpass: bool = True
    seed: int = 0

    @property
    def in_channels(self) -> int:
        c = 1 if self.color == "gray" else 3
        return 2 * c if self.highpass else c


class ReferenceTrainExtra(BaseModel):
    """Reference-specific training settings, taken from ``TrainConfig.extra``.

    threads     torch CPU threads during fit/score (default: $MEDMAT_THREADS or 2)
    augment     random vertical flips, small shifts, gamma and contrast; applied
                identically to every arm of a study, it helps a finding learned under one
                modality's intensities be recognised under another's
    hflip       also flip left-right (off: it swaps the labels of laterality tasks)
    noise       max std of added Gaussian noise (off: it imitates "noisy" quality labels)
    grad_clip   max gradient norm (0 disables)
    keep_checkpoints  how many step checkpoints to keep in out_dir/checkpoints
    """

    model_config = ConfigDict(extra="forbid")
    threads: int | None = Field(None, ge=1)
    augment: bool = True
    hflip: bool = False
    noise: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    keep_checkpoints: int = Field(1, ge=1)


def resolve_threads(threads: int | None) -> int:
    """Explicit setting > $MEDMAT_THREADS > 2."""
    if threads is not None:
        return threads
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {env!r}") from None
        if value < 1:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {env!r}")
        return value
    return 2
