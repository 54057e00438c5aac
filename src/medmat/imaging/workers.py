"""Guarded worker processes: each file is decoded in a child that can be stopped or lost.

``multiprocessing.Pool`` cannot stop one task: a decoder that loops forever stalls the
build, and a worker killed by the kernel (out of memory, a crash in a C decoder) loses its
task so that ``imap`` never returns. Here every worker takes one task at a time over its
own pipe, and the parent watches the pipe, the process and the task's deadline:

- a task past ``limits.timeout_s``: the worker is killed and replaced, the task's result
  is ``(key, False, ('time-limit', ...))``;
- a worker that dies while on a task: the task is tried once more in a fresh worker (a
  worker killed from outside, e.g. by an operator or the OOM killer, then costs nothing);
  if it dies again the result is ``(key, False, ('worker-crashed', ...))``;
- each worker caps its own address space at its start size + ``limits.worker_memory_bytes``
  (Linux), so a file that needs more memory fails with MemoryError inside the task
  instead of taking the machine with it.

Every task yields exactly one result, in completion order; callers assemble by key.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator

from medmat.imaging.limits import CRASH_REASON, TIME_REASON, FileLimits, timeout_detail

Result = tuple[str, bool, tuple]
MAX_ATTEMPTS = 2  # a task whose worker dies is tried once more before it is a skip
_START_FAILURES = 5  # consecutive workers that die before any task: give up (broken setup)


def _statm_vsz() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def cap_memory(extra_bytes: int | None) -> None:
    """Limit this process's address space to its current size + ``extra_bytes`` (Linux only;
    an inherited lower limit is kept)."""
    if not extra_bytes:
        return
    try:
        import resource
    except ImportError:  # not on this platform
        return
    vsz = _statm_vsz()
    if vsz is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vsz + int(extra_bytes)
    for existing in (soft, hard):
        if existing != resource.RLIM_INFINITY:
            limit = min(limit, existing)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the build process dies (no orphaned decoders)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(conn, fn: Callable[[Any], Result], memory_bytes: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    cap_memory(memory_bytes)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(fn(task))


@dataclass
class _Slot:
    proc: Any
    conn: Any
    task: Any = None
    key: str = ""
    deadline: float | None = None


def _context():
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _start(ctx, fn, limits: FileLimits) -> _Slot:
    parent, child = ctx.Pipe(duplex=True)
    # Not daemonic: a worker may start processes of its own (the fuzz harness runs builds in
    # its workers). The parent stops its workers in a ``finally``, and Linux kills them
    # with the parent (_die_with_parent).
    proc = ctx.Process(target=_worker_main, args=(child, fn, limits.worker_memory_bytes), daemon=False)
    proc.start()
    child.close()
    return _Slot(proc, parent)


def _stop(slot: _Slot, *, kill: bool) -> None:
    with contextlib.suppress(Exception):
        if kill:
            slot.proc.kill()
        else:
            slot.conn.send(None)
    with contextlib.suppress(Exception):
        slot.conn.close()
    slot.proc.join(timeout=None if kill else 5)
    if slot.proc.is_alive():
        slot.proc.kill()
        slot.proc.join()


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


def _assign(slot: _Slot, task: Any, k: str, limits: FileLimits) -> bool:
    """Hand ``task`` to an idle worker; False when the worker is gone (it died while idle)."""
    slot.task, slot.key = task, k
    slot.deadline = time.monotonic() + limits.timeout_s if limits.timeout_s else None
    try:
        slot.conn.send(task)
        return True
    except (OSError, ValueError):
        slot.task = None
        return False


def _outcome(slot: _Slot, ready: set) -> Result | None | bool:
    """The worker's result, False if it died on its task, None if it is still working."""
    if slot.conn not in ready and slot.proc.sentinel not in ready:
        return None
    try:
        if slot.conn.poll():
            return slot.conn.recv()
    except (EOFError, OSError):
        return False
    return False


def run_guarded(fn: Callable[[Any], Result], tasks: Iterable[Any], workers: int, limits: FileLimits,
                key: Callable[[Any], str] = lambda t: t[0],
                precheck: Callable[[Any], Result | None] | None = None) -> Iterator[Result]:
    """``fn(task)`` for every task in up to ``workers`` guarded processes (see module doc).

    ``precheck(task)``, asked just before a task would be handed to a worker, may return
    its result instead (a file already known to fail), and the task is not run.
    """
    pending = collections.deque(tasks)
    if not pending:
        return
    if mp.current_process().daemon:  # a daemonic process (a Pool worker) may not start processes
        for task in pending:
            yield (precheck(task) if precheck else None) or fn(task)
        return
    ctx = _context()
    attempts: collections.Counter[str] = collections.Counter()
    slots: list[_Slot] = []
    lost_idle = 0
    try:
        slots = [_start(ctx, fn, limits) for _ in range(max(1, min(workers, len(pending))))]
        while pending or any(s.task is not None for s in slots):
            for i, slot in enumerate(slots):
                while slot.task is None and pending and precheck is not None:
                    known = precheck(pending[0])
                    if known is None:
                        break
                    pending.popleft()
                    yield known
                if slot.task is None and pending:
                    task = pending.popleft()
                    if not _assign(slot, task, key(task), limits):
                        pending.appendleft(task)  # not the task's fault: a fresh worker takes it
                        _stop(slot, kill=True)
                        lost_idle += 1
                        if lost_idle > _START_FAILURES:
                            raise RuntimeError(f"image workers keep dying before taking a task "
                                               f"({_death(slot.proc)}); cannot materialise")
                        slots[i] = _start(ctx, fn, limits)
            busy = [s for s in slots if s.task is not None]
            if not busy:
                continue
            deadlines = [s.deadline for s in busy if s.deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = set(wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout))
            for i, slot in enumerate(slots):
                if slot.task is None:
                    continue
                got = _outcome(slot, ready)
                if got is False:  # the worker died on this task
                    task, k = slot.task, slot.key
                    _stop(slot, kill=True)
                    attempts[k] += 1
                    if attempts[k] < MAX_ATTEMPTS:
                        pending.appendleft(task)
                    else:
                        yield k, False, (CRASH_REASON, f"the worker decoding this file died "
                                                       f"({_death(slot.proc)}) on each of {attempts[k]} tries")
                    slots[i] = _start(ctx, fn, limits)
                elif got is not None:
                    slot.task, lost_idle = None, 0
                    yield got
                elif slot.deadline is not None and time.monotonic() >= slot.deadline:
                    k = slot.key
                    _stop(slot, kill=True)
                    slots[i] = _start(ctx, fn, limits)
                    yield k, False, (TIME_REASON, timeout_detail(limits))
    finally:
        for slot in slots:
            _stop(slot, kill=slot.task is not None)
