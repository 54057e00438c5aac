"""Pixel conversion and materialisation of raw images into the VQA store (issue 3)."""

from medmat.imaging.cache import CACHE_NAME
from medmat.imaging.convert import ImageError, minmax_to_uint8, to_8bit, window_to_uint8
from medmat.imaging.limits import FileLimits
from medmat.imaging.loaders import DEFAULT_MAX_PIXELS, LOADERS, Loaded
from medmat.imaging.materialize import materialize

__all__ = [
    "CACHE_NAME", "DEFAULT_MAX_PIXELS", "FileLimits", "ImageError", "LOADERS", "Loaded", "materialize", "minmax_to_uint8",
    "to_8bit", "window_to_uint8",
]
