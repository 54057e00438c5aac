"""Per-file limits: what one raw file may cost before it becomes a skip naming the limit.

A folder of thousands of files may hold one that claims a 60000 x 60000 image in a
70-byte header, one that makes a decoder loop, or one that needs more memory than the
machine has. Each limit below is checked as early as the file allows: pixel and byte
counts from the header before anything is decoded (``check_decoded``), time and memory by
the worker process that decodes the file (``medmat.imaging.workers``), which is killed
or refused memory rather than letting the build stall or die. The build's
``BuildSettings`` carries the same limits as settings (``file_timeout_s``, ``max_pixels``,
``max_decoded_mb``, ``worker_memory_mb``) and turns them into a :class:`FileLimits`.

This module imports nothing heavy, so configs can name it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# PIL's own decompression-bomb threshold (Image.MAX_IMAGE_PIXELS), kept as a number here so
# that configs need not import PIL.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_DECODED_MB = 1024
DEFAULT_WORKER_MEMORY_MB = 4096
MB = 1024 * 1024

# Skip reasons of the limits (ImageError reasons; see medmat.imaging.convert.REASONS).
PIXELS_REASON = "decompression-bomb"
MEMORY_REASON = "memory-limit"
TIME_REASON = "time-limit"
CRASH_REASON = "worker-crashed"


@dataclass(frozen=True)
class FileLimits:
    """Limits on one file's decoding; None switches one off (tests, previews).

    timeout_s            wall-clock seconds to load, convert and encode one image
    max_pixels           pixels (or voxels) one image, frame stack or volume may decode to
    max_decoded_bytes    bytes its decoded samples may take (from the header, before decoding)
    worker_memory_bytes  address space a worker may add beyond what it had at its start
    """

    timeout_s: float | None = DEFAULT_TIMEOUT_S
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_decoded_bytes: int | None = DEFAULT_MAX_DECODED_MB * MB
    worker_memory_bytes: int | None = DEFAULT_WORKER_MEMORY_MB * MB

    def with_(self, **changes) -> "FileLimits":
        return replace(self, **changes)

    def cache_key(self) -> tuple:
        """The limits that decide, from the header alone, whether a file is skipped."""
        return (self.max_pixels, self.max_decoded_bytes)


NO_LIMITS = FileLimits(timeout_s=None, max_pixels=None, max_decoded_bytes=None, worker_memory_bytes=None)


def _mb(n: int) -> str:
    return f"{n / MB:,.1f} MB"


def check_decoded(limits: FileLimits | None, pixels: int, bytes_per_pixel: float, what: str) -> None:
    """Raise ImageError when ``pixels`` (header-claimed) break ``max_pixels`` or ``max_decoded_bytes``."""
    from medmat.imaging.convert import ImageError

    if limits is None:
        return
    pixels = int(pixels)
    if pixels < 0:
        raise ImageError("corrupt-image", f"{what}: negative size in the header")
    if limits.max_pixels is not None and pixels > limits.max_pixels:
        raise ImageError(PIXELS_REASON, f"{what}: {pixels:,} pixels exceed max_pixels={limits.max_pixels:,}")
    nbytes = int(pixels * bytes_per_pixel)
    if limits.max_decoded_bytes is not None and nbytes > limits.max_decoded_bytes:
        raise ImageError(MEMORY_REASON, f"{what}: decodes to {_mb(nbytes)}, more than "
                                        f"max_decoded_mb={limits.max_decoded_bytes // MB}")


def timeout_detail(limits: FileLimits) -> str:
    return f"decoding took longer than file_timeout_s={limits.timeout_s:g}; the worker was stopped"


def memory_detail(limits: FileLimits) -> str:
    cap = limits.worker_memory_bytes
    return "out of memory while decoding" + (f" (worker_memory_mb={cap // MB})" if cap else "")
