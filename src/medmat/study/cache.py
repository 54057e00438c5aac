"""Content-keyed, resumable stages.

A stage's key is the hash of everything that determines its output (its configuration
and the fingerprints of its inputs). A stage whose record holds the same key is skipped,
so re-running an unchanged study does nothing and an interrupted study continues where
it stopped (the long stages, training, also resume from their own checkpoints).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from medmat.io import read_json, write_json
from medmat.runtime import content_key


class StageLog:
    """Records which stages ran, with their keys, under RUN_DIR/stages/."""

    def __init__(self, run_dir: Path, write: bool = True):
        self.dir = Path(run_dir) / "stages"
        self.write = write  # only one process of a multi-process launch records stages
        self.require_cached: tuple[str, ...] = ()  # stage-name prefixes that must not run here
        self.ran: list[str] = []
        self.cached: list[str] = []
        self.seconds: dict[str, float] = {}
        self._recorded: set[str] = set()  # ran in another process for this one (record())

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
            if name in self._recorded:
                self._recorded.discard(name)  # its one run was recorded; a second arm sharing it is cached
            else:
                self.cached.append(name)
            return self.output(name)
        if any(name.startswith(p) for p in self.require_cached):
            raise RuntimeError(f"stage {name!r} is not done yet and cannot run in a multi-process launch: "
                               "run `medmat run STUDY --until plan` once in a single process first")
        start = time.perf_counter()
        output = fn() or {}
        self._save(name, key, output, time.perf_counter() - start)
        return output

    def record(self, name: str, key_inputs: Any, output: dict[str, Any], seconds: float) -> None:
        """Record a stage that ran elsewhere (a worker process) as if ``run`` had run it:
        the next ``run`` of the same name and key returns its output without counting it
        as cached (any later one counts as cached, as after a real run)."""
        self._save(name, content_key(key_inputs), output, seconds)
        self._recorded.add(name)

    def _save(self, name: str, key: str, output: dict[str, Any], secs: float) -> None:
        self.seconds[name] = secs
        if self.write:
            write_json(self._path(name), {"name": name, "key": key, "output": output, "seconds": round(secs, 3)})
        self.ran.append(name)
