"""Content-keyed, resumable stages.

A stage's key is the hash of everything that determines its output (its configuration
and the fingerprints of its inputs). A stage whose record holds the same key is skipped,
so re-running an unchanged study does nothing and an interrupted study continues where
it stopped (the long stages, training, also resume from their own checkpoints).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from medmat.io import read_json, write_json


def content_key(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class StageLog:
    """Records which stages ran, with their keys, under RUN_DIR/stages/."""

    def __init__(self, run_dir: Path, write: bool = True):
        self.dir = Path(run_dir) / "stages"
        self.write = write  # only one process of a multi-process launch records stages
        self.require_cached: tuple[str, ...] = ()  # stage-name prefixes that must not run here
        self.ran: list[str] = []
        self.cached: list[str] = []
        self.seconds: dict[str, float] = {}

    def _path(self, name: str) -> Path:
        return self.dir / f"{name.replace('/', '__')}.json"

    def is_done(self, name: str, key: str) -> bool:
        p = self._path(name)
        return p.is_file() and read_json(p).get("key") == key

    def output(self, name: str) -> dict[str, Any]:
        return read_json(self._path(name)).get("output", {})

    def run(self, name: str, key_inputs: Any, fn: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Run ``fn`` unless a stage with the same name and key already finished."""
        key = content_key(key_inputs)
        if self.is_done(name, key):
            self.cached.append(name)
            return self.output(name)
        if any(name.startswith(p) for p in self.require_cached):
            raise RuntimeError(f"stage {name!r} is not done yet and cannot run in a multi-process launch: "
                               "run `medmat run STUDY --until plan` once in a single process first")
        start = time.perf_counter()
        output = fn() or {}
        secs = time.perf_counter() - start
        self.seconds[name] = secs
        if self.write:
            write_json(self._path(name), {"name": name, "key": key, "output": output, "seconds": round(secs, 3)})
        self.ran.append(name)
        return output


def provenance(config: dict[str, Any]) -> dict[str, Any]:
    """Versions, git hash and machine facts recorded with every result."""
    versions = {}
    for pkg in ("medmat", "torch", "transformers", "peft", "trl", "numpy", "pillow", "pydicom", "nibabel"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "config_key": content_key(config),
        "versions": versions,
        "git": _git_hash(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "seed": config.get("seed"),
    }


def _git_hash() -> str:
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
