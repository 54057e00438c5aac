"""Pixel conversion: anything PIL, DICOM or NIfTI gives us -> an 8-bit L or RGB image.

Every model downstream sees 8-bit greyscale or RGB; this module is the single place where
16-bit, float, CMYK, palette and alpha images are flattened, so that the choice (min-max
for high bit depths, alpha composited onto black) is made once and tested once.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Reasons a loader may give; materialize turns ImageError into Skip(reason, detail).
REASONS = (
    "zero-byte", "not-an-image", "corrupt-image", "truncated-image", "decompression-bomb",
    "dicom-no-pixel-data", "dicom-truncated", "dicom-unsupported", "nifti-corrupt", "missing-file",
    "path-escapes-root",
    # files that open but are not an image or volume of the kind medmat converts
    "not-a-volume", "empty-volume", "nifti-unsupported",
    # per-file limits (medmat.imaging.limits): the skip names the limit in its detail
    "memory-limit", "time-limit", "worker-crashed",
)


class ImageError(Exception):
    """An image that cannot be turned into pixels; ``reason`` is a Skip reason code.

    ``whole_file`` says the error is the file's, not one frame's or slice's: the
    materialiser then gives every other record of the same file the same skip without
    decoding it again (a volume whose decoding hangs must not cost the time limit once
    per slice)."""

    def __init__(self, reason: str, detail: str = "", *, whole_file: bool = True):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.whole_file = reason, detail, whole_file


def minmax_to_uint8(x: np.ndarray) -> np.ndarray:
    """Linear stretch of the finite range to 0..255 (a constant image becomes all zeros)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.rint((x - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def range_to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Clip to [lo, hi] and stretch to 0..255 (percentile normalisation, plain windows)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=lo)
    if hi <= lo:
        return np.where(x > lo, 255, 0).astype(np.uint8)
    return np.rint(np.clip((x - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def window_to_uint8(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """The DICOM linear VOI window (PS3.3 C.11.2.1.2.1) mapped onto 0..255."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    width = max(float(width), 1.0)
    if width == 1.0:
        return np.where(x > center - 0.5, 255, 0).astype(np.uint8)
    y = (x - (center - 0.5)) / (width - 1.0) + 0.5
    return np.rint(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def _composite_on_black(img: Image.Image) -> Image.Image:
    base_mode = "L" if img.mode in ("LA", "La") else "RGB"
    rgba = img.convert("LA" if base_mode == "L" else "RGBA")
    if rgba.getextrema()[-1] == (255, 255):
        return rgba.convert(base_mode)
    black = Image.new(rgba.mode, rgba.size, 0 if base_mode == "L" else (0, 0, 0, 255))
    if base_mode == "L":
        black.putalpha(255)
    return Image.alpha_composite(black.convert("RGBA"), rgba.convert("RGBA")).convert(base_mode)


def to_8bit(img: Image.Image) -> Image.Image:
    """``img`` as mode 'L' or 'RGB' (8 bits per sample), whatever PIL opened it as."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        has_alpha = "transparency" in img.info
        pal = img.convert("RGBA" if has_alpha else "RGB")
        return to_8bit(pal)
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        return _composite_on_black(img.convert("RGBA") if mode == "PA" else img)
    if mode in ("I", "F") or mode.startswith("I;16"):
        return Image.fromarray(minmax_to_uint8(np.asarray(img)), mode="L")
    # CMYK, YCbCr, LAB, HSV, RGBX ...: PIL knows the colour conversion.
    return img.convert("RGB")


def array_to_image(arr: np.ndarray) -> Image.Image:
    """A uint8 (H, W) or (H, W, 3) array as an 'L' or 'RGB' PIL image."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.size == 0:
        raise ImageError("corrupt-image", f"empty pixel array of shape {arr.shape}")
    if arr.ndim == 2:
        return Image.fromarray(arr, mode="L")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return Image.fromarray(arr, mode="RGB")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L")
    raise ImageError("corrupt-image", f"cannot display pixel array of shape {arr.shape}")


def target_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    """The resized (w, h) keeping aspect so the longer side is <= max_side; None: no resize."""
    w, h = size
    if not max_side or max(w, h) <= max_side:
        return None
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))
