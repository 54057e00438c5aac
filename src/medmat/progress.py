"""Progress of long work, reported the same way by every stage and every backbone.

Library operations take a :class:`Reporter` and never print themselves. The CLI chooses
the reporter: a rich progress bar in a terminal, a plain line every N steps when the
output is not a terminal (logs, CI), nothing with ``--json``. Training reports through
:class:`medmat.models.base.FitCallback`; :func:`fit_progress` turns a reporter task into
one, so ``medmat train``, ``medmat run`` and ``medmat demo`` show the same bar (step,
loss, items/s, ETA) whatever the backbone.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import IO, Any, Iterator


class Task:
    """One unit of long work; ``update`` sets absolute progress, ``advance`` adds to it."""

    def update(self, completed: int | None = None, total: int | None = None, **info: Any) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class Reporter:
    """Says what happens (``say``) and follows long work (``task``). This one is silent."""

    def say(self, text: str) -> None: ...

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        yield Task()


NullReporter = Reporter


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _LineTask(Task):
    def __init__(self, reporter: "LineReporter", description: str, total: int | None):
        self.r, self.description, self.total = reporter, description, total
        self.completed, self.info = 0, {}
        self.t0 = self._last_time = time.monotonic()
        self._last_line = -1
        self.every = reporter.every

    def update(self, completed: int | None = None, total: int | None = None, **info: Any) -> None:
        if total is not None:
            self.total = total
        if completed is not None:
            self.completed = completed
        self.info.update({k: v for k, v in info.items() if v is not None})
        self._maybe_print()

    def advance(self, n: int = 1) -> None:
        self.update(completed=self.completed + n)

    def _maybe_print(self, force: bool = False) -> None:
        crossed = self.completed // self.every > max(self._last_line, 0) // self.every
        done = self.total is not None and self.completed >= self.total
        if crossed and not (done or force) and time.monotonic() - self._last_time < self.r.min_interval:
            self.every *= 2  # steps come faster than lines should: print every 2N steps from now on
            return
        if (crossed or done or force) and self.completed != self._last_line:
            self._last_line, self._last_time = self.completed, time.monotonic()
            self.r.stream.write(self.line() + "\n")
            self.r.stream.flush()

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        parts = [f"{self.description}: {self.completed}" + (f"/{self.total}" if self.total else "")]
        if "loss" in self.info:
            parts.append(f"loss {self.info['loss']:.4f}")
        rate = self.info.get("items_per_s")
        if rate:
            parts.append(f"{rate:.1f} items/s")
        if self.total and self.completed:
            parts.append(f"eta {_duration(elapsed / self.completed * (self.total - self.completed))}")
        parts.append(f"elapsed {_duration(elapsed)}")
        return " | ".join(parts)


class LineReporter(Reporter):
    """Plain text for logs: a line per ``say``, and a line when a task passes a multiple of
    ``every`` steps and when it ends. A task whose lines would come faster than one per
    ``min_interval`` seconds doubles its ``every`` (50, 100, 200 ... steps) instead."""

    def __init__(self, stream: IO[str] | None = None, every: int = 50, min_interval: float = 2.0):
        self.stream = stream or sys.stderr
        self.every = max(1, every)
        self.min_interval = min_interval

    def say(self, text: str) -> None:
        self.stream.write(f"{text}\n")
        self.stream.flush()

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        t = _LineTask(self, description, total)
        yield t
        t._maybe_print(force=True)


def fit_progress(task: Task, items_per_step: int) -> Any:
    """A FitCallback that moves ``task`` (step, loss, items/s) as a backbone trains."""
    from medmat.models.base import FitCallback

    class _Progress(FitCallback):
        def __init__(self) -> None:
            self.t0: float | None = None
            self.first: int | None = None

        def on_step(self, step: int, total: int, loss: float | None) -> None:
            now = time.monotonic()
            if self.t0 is None:  # the first step reported may follow a resume
                self.t0, self.first = now, step
            rate = None
            if self.first is not None and step > self.first and now > self.t0:
                rate = (step - self.first) * items_per_step / (now - self.t0)
            task.update(completed=step, total=total or None, loss=loss, items_per_s=rate)

    return _Progress()
