"""Facts about the running process: its rank in a multi-process launch and its provenance.

Every result medmat writes records where it came from (versions, git hash, machine), and
under ``accelerate launch`` / ``torchrun`` only the main process writes shared files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("medmat", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "numpy", "pillow",
            "pydicom", "nibabel")


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in a single process and on rank 0 of a multi-process launch."""
    return rank() == 0


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
