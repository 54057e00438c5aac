"""Facts about the running process: its rank in a multi-process launch and its provenance.

Every result medmat writes records where it came from (versions, git hash, machine), and
under ``accelerate launch`` / ``torchrun`` only the main process writes shared files.

The few collective operations medmat needs itself (sharded evaluation: gather every
rank's rows, agree that no rank failed) are here too, behind :func:`join_launch`: it joins
the launch's process group through accelerate's ``PartialState`` (gloo on CPU, NCCL on
GPUs), the same state the HF Trainer uses, so training and evaluation in one process share
one group. Nothing here imports torch until a multi-process launch asks for it.
"""

from __future__ import annotations

import atexit

import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

PACKAGES = ("medmat", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "numpy", "pillow",
            "pydicom", "nibabel")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a multi-process launch."""
    return rank() == 0


class LaunchError(RuntimeError):
    """A multi-process launch that cannot work (too few devices), or a rank that failed or died."""


def check_devices() -> None:
    """On a GPU machine, one process per GPU: more processes than GPUs is a clear error on every rank.

    (Without the check the extra processes die on an invalid CUDA device ordinal, or two
    processes share a GPU and run out of memory.) CPU processes are not limited.
    """
    if world_size() <= 1:
        return
    import torch

    if not torch.cuda.is_available():
        return
    n = torch.cuda.device_count()
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", "0")) or local_rank() + 1
    if per_machine > n or local_rank() >= n:
        raise LaunchError(f"this launch starts {per_machine} processes on a machine with {n} visible GPU(s) "
                          f"(process {rank()} has local rank {local_rank()}): launch at most {n} per machine "
                          "(accelerate launch --num_processes, or CUDA_VISIBLE_DEVICES)")


def join_launch() -> None:
    """Join the process group of a multi-process launch (once); nothing in a single process."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    check_devices()
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available())  # the HF Trainer asks for the same state
    atexit.register(_leave_launch)


def _leave_launch() -> None:
    """Tear the process group down before the interpreter does: a gloo group still alive at
    exit can abort the process ("terminate called without an active exception"), which the
    launcher reports as a failed rank although every rank finished its work."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except (RuntimeError, ValueError):  # already torn down by accelerate or the Trainer
            pass


def all_gather(obj: Any, what: str) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` in one process.

    A rank that died or left the group makes this a :class:`LaunchError` naming ``what``.
    """
    if world_size() <= 1:
        return [obj]
    import torch.distributed as dist

    join_launch()
    out: list[Any] = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(out, obj)
    except (RuntimeError, ValueError) as e:  # gloo/NCCL errors are RuntimeErrors (DistBackendError)
        raise LaunchError(f"rank {rank()}: another process of the launch failed or died during {what} "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return out


def barrier(what: str) -> None:
    """Wait until every rank of the launch gets here (nothing in a single process)."""
    all_gather(None, what)


def agree(error: str | None, what: str) -> None:
    """Every rank says whether its part of ``what`` failed; if any did, every rank raises the
    same :class:`LaunchError` listing each failed rank's message (so rank 0 reports them all)."""
    if world_size() <= 1:
        if error:
            raise LaunchError(f"{what} failed: {error}")
        return
    failed = [(r, e) for r, e in enumerate(all_gather(error, what)) if e]
    if failed:
        raise LaunchError(f"{what} failed on {len(failed)} of {world_size()} processes: "
                          + "; ".join(f"rank {r}: {e}" for r, e in failed))


def versions() -> dict[str, str]:
    """Installed versions of medmat and the libraries that decide its numbers (no imports)."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_hash() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or why there is none."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown (not a git checkout)"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@contextmanager
def gc_paused(old: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a block builds many containers and no cycles.

    Reading a 150k-item store allocates millions of dicts, lists and objects; every few
    hundred allocations the collector walks the whole, growing heap again, which costs a
    third of the time. Nothing is lost: reference counting still frees everything, and the
    collector runs again after the block. ``old``: what the block built is long-lived data
    (a store's items), moved straight to the oldest generation (``gc.freeze`` then
    ``gc.unfreeze``, which walks nothing) instead of being walked by the next young
    collections; it stays collectable like anything else.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if old:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def content_key(obj: Any) -> str:
    """A short hash of JSON-able content: equal content, equal key (sorted keys, str fallback)."""
    text = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def provenance(config: dict[str, Any]) -> dict[str, Any]:
    """Versions, git hash and machine facts recorded with every result."""
    return {
        "config_key": content_key(config),
        "versions": versions(),
        "git": git_hash(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "seed": config.get("seed"),
    }


ALLOCATOR_ENV = "MEDMAT_TUNE_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_allocator: dict[str, Any] = {}


def tune_allocator() -> dict[str, Any]:
    """Let glibc keep freed tensor memory for reuse instead of returning it to the system.

    A CPU training step allocates and frees the same few megabytes of activations again and
    again. glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and gives
    freed heap tops back, so every step pays page faults to zero new pages: on the 2-core
    test machine 650-2,400 faults per step of the reference model (260k-960k per 400-step
    training, ~78k tuned). Measured gain: 1.03x in benchmarks/bench_training_rate.py, up to
    1.2x in single trainings; the fault count, and so the gain, varies with the heap's state.
    Raising the mmap threshold to its maximum (32 MiB) and the trim threshold to 1 GiB keeps
    the memory in the heap: the same as setting ``MALLOC_MMAP_THRESHOLD_`` and
    ``MALLOC_TRIM_THRESHOLD_`` before start, done from inside. Process-wide and once; a no-op
    on a C library without ``mallopt`` or with ``MEDMAT_TUNE_MALLOC=0``. Returns what was done.
    """
    if _allocator:
        return _allocator
    if os.environ.get(ALLOCATOR_ENV, "1").strip() == "0":
        _allocator.update(tuned=False, why=f"${ALLOCATOR_ENV}=0")
        return _allocator
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
        _allocator.update(tuned=ok, why="mallopt" if ok else "mallopt refused the settings")
    except (OSError, AttributeError) as e:
        _allocator.update(tuned=False, why=f"no mallopt in this C library ({type(e).__name__})")
    return _allocator
