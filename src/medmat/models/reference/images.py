"""Images for the reference model: decode once, keep as uint8, augment per step.

Items often share an image (circular option rotations, several templates), and decoding
PNG/JPEG dominates a CPU step at 64 px, so every distinct file is decoded exactly once
into one uint8 tensor and items only hold an index into it. Across trainings and
evaluations of one process (a study trains hundreds of arms on one store) decoded images
are kept in a bounded cache keyed by the file's identity (path, size, mtime) and the
decoding settings, so a file is decoded once per process, not once per arm.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from medmat.records import VQAItem


class ImageCache:
    """Distinct images of a set of items as one uint8 tensor [N, C, S, S]."""

    def __init__(self, items: Sequence[VQAItem], store_root: Path, size: int, color: str):
        self.index: dict[str, int] = {}
        arrays: list[np.ndarray] = []
        mode = "L" if color == "gray" else "RGB"
        for it in items:
            if it.image in self.index:
                continue
            self.index[it.image] = len(arrays)
            arrays.append(DECODED.get(Path(store_root) / it.image, size, mode))
        if arrays:
            self.pixels = torch.from_numpy(np.stack(arrays))
        else:
            self.pixels = torch.zeros((0, 1 if mode == "L" else 3, size, size), dtype=torch.uint8)

    def rows(self, items: Sequence[VQAItem]) -> list[int]:
        return [self.index[it.image] for it in items]


class DecodedImages:
    """Decoded images of this process, least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes, self.bytes = max_bytes, 0
        self.entries: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, path: Path, size: int, mode: str) -> np.ndarray:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ValueError(f"image not found: {path}") from None
        key = (str(path), st.st_size, st.st_mtime_ns, size, mode)
        arr = self.entries.get(key)
        if arr is None:
            arr = decode(path, size, mode)
            arr.setflags(write=False)  # shared by every cache that holds this image
            self.entries[key] = arr
            self.bytes += arr.nbytes
            while self.bytes > self.max_bytes and len(self.entries) > 1:
                self.bytes -= self.entries.popitem(last=False)[1].nbytes
        else:
            self.entries.move_to_end(key)
        return arr

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


DECODED = DecodedImages()


def decode(path: Path, size: int, mode: str) -> np.ndarray:
    """One image as uint8 [C, size, size]; a missing or unreadable file is a clear error."""
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise ValueError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot decode image {path}: {e}") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1).copy()


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel zero mean / unit variance: removes global brightness and
    contrast, which differ by modality far more than by finding."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    return (x - mean) / std


def to_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 -> standardised float (the evaluation path: no randomness)."""
    return standardise(pixels.float() / 255.0)


def augment(pixels: torch.Tensor, gen: torch.Generator, hflip: bool = False, noise: float = 0.0,
            boxes: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Label-preserving jitter: vertical flips, small shifts (1/16 of the side), gamma and
    contrast; horizontal flips and additive noise only when asked.

    Horizontal flips are off by default because they swap left/right (laterality tasks),
    noise because it imitates a "noisy" image-quality label. Every draw comes from ``gen``
    (seeded per step by the trainer), so a resumed run sees exactly the augmentations an
    uninterrupted one would. With ``boxes`` ([B, K, 4], 0-1) the flips and shifts move the
    boxes with the image and ``(images, boxes)`` is returned; the draws are the same.
    """
    x = pixels.float() / 255.0
    b, _, s, _ = x.shape
    flip_v = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)
    flip_h = None
    if hflip:
        flip_h = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    m = max(1, s // 16)
    shifts = torch.randint(-m, m + 1, (b, 2), generator=gen)
    if boxes is not None:
        boxes = move_boxes(boxes, flip_v, flip_h, shifts.float() / s)
    x = roll_each(x, shifts)
    gamma = torch.exp(torch.empty(b, 1, 1, 1).uniform_(-0.4, 0.4, generator=gen))
    x = x.clamp_min(0).pow(gamma)
    contrast = torch.empty(b, 1, 1, 1).uniform_(0.7, 1.3, generator=gen)
    x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) * contrast
    if noise > 0:
        x = x + noise * torch.rand(b, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    return standardise(x) if boxes is None else (standardise(x), boxes)


def roll_each(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``torch.roll`` of each image [C, H, W] of ``x`` by its own (dy, dx) row of ``shifts``,
    in one gather instead of one roll per image (the same values, bit for bit)."""
    b, _, h, w = x.shape
    rows = (torch.arange(h)[None, :] - shifts[:, 0:1]) % h  # [B, H]: source row of each output row
    cols = (torch.arange(w)[None, :] - shifts[:, 1:2]) % w  # [B, W]
    out = x.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def move_boxes(boxes: torch.Tensor, flip_v: torch.Tensor, flip_h: torch.Tensor | None, shift: torch.Tensor
               ) -> torch.Tensor:
    """Boxes [B, K, 4] (0-1) under augment's vertical flip, horizontal flip and (dy, dx) shift
    (fractions of the side; torch.roll wraps, a finding near an edge is rare: boxes are clipped)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    fv = flip_v[:, None]
    y1, y2 = torch.where(fv, 1 - y2, y1), torch.where(fv, 1 - y1, y2)
    if flip_h is not None:
        fh = flip_h[:, None]
        x1, x2 = torch.where(fh, 1 - x2, x1), torch.where(fh, 1 - x1, x2)
    dy, dx = shift[:, 0:1], shift[:, 1:2]
    return torch.stack([x1 + dx, y1 + dy, x2 + dx, y2 + dy], -1).clamp(0, 1)
