"""Helpers shared by the CLI modules: JSON output, errors as clean exits, progress reporting."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from medmat.progress import LineReporter, Reporter, Task

console = Console(stderr=True)
out = Console()

PROGRESS_EVERY_ENV = "MEDMAT_PROGRESS_EVERY"
PROGRESS_SECONDS_ENV = "MEDMAT_PROGRESS_SECONDS"


def emit_json(obj: Any) -> None:
    """Machine output goes to stdout as one JSON document and nothing else (one process
    of a multi-process launch: rank 0)."""
    from medmat.runtime import is_main_process

    if not is_main_process():
        return
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> "typer.Exit":
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _RichTask(Task):
    def __init__(self, progress: Progress, task_id: Any):
        self.p, self.id = progress, task_id

    def update(self, completed: int | None = None, total: int | None = None, **info: Any) -> None:
        kw: dict[str, Any] = {}
        if completed is not None:
            kw["completed"] = completed
        if total is not None:
            kw["total"] = total
        parts = []
        if info.get("loss") is not None:
            parts.append(f"loss {info['loss']:.4f}")
        if info.get("items_per_s"):
            parts.append(f"{info['items_per_s']:.1f} items/s")
        if parts:
            kw["info"] = " ".join(parts)
        self.p.update(self.id, **kw)

    def advance(self, n: int = 1) -> None:
        self.p.advance(self.id, n)


class RichReporter(Reporter):
    """Rich bars on stderr (step, M/N, loss, items/s, elapsed, ETA) and dim lines for ``say``."""

    def __init__(self, progress: Progress):
        self.p = progress

    def say(self, text: str) -> None:
        self.p.console.print(f"[dim]·[/] {text}", highlight=False)

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Task]:
        tid = self.p.add_task(description, total=total, info="")
        try:
            yield _RichTask(self.p, tid)
        finally:
            t = self.p.tasks[[x.id for x in self.p.tasks].index(tid)]
            if t.total is None:  # an open-ended task stops its spinner-like bar when done
                self.p.update(tid, total=t.completed or 1, completed=t.completed or 1)


def _env_number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        raise fail(f"${name} must be a number, got {os.environ.get(name)!r}") from None


@contextmanager
def reporter(as_json: bool = False) -> Iterator[Reporter]:
    """The reporter for this command: silent with --json, a rich bar in a terminal, and
    otherwise (logs, CI, pipes) a plain line every $MEDMAT_PROGRESS_EVERY steps (default 50),
    at most one per $MEDMAT_PROGRESS_SECONDS (default 2)."""
    if as_json:
        yield Reporter()
        return
    if not console.is_terminal:
        yield LineReporter(sys.stderr, every=int(_env_number(PROGRESS_EVERY_ENV, 50)),
                           min_interval=_env_number(PROGRESS_SECONDS_ENV, 2.0))
        return
    p = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
        transient=False,
    )
    with p:
        yield RichReporter(p)
