"""A fuzz campaign: many ``fuzz_run`` cases in guarded harness workers, and its report.

The harness workers are supervised by ``medmat.imaging.workers.run_guarded`` with the
harness's own limits: a case still running after ``hang_s`` is a 'hang', a worker that dies
(its memory cap, a crash in C) is 'died'. Inside, each case is read and materialised with
the production per-file limits (``file_timeout_s`` and the defaults for pixels and bytes),
so a file that hits one of those is a skip naming the limit, which is a good outcome.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from medmat.imaging.limits import MB, FileLimits
from medmat.imaging.workers import run_guarded

from helpers.fuzz_run import BAD, FORMATS, harness_task, make_case


@dataclass
class Report:
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def by_format(self) -> dict[str, Counter]:
        out: dict[str, Counter] = defaultdict(Counter)
        for r in self.results:
            out[r["fmt"]][r["outcome"]] += 1
        return dict(sorted(out.items()))

    def skips_by_reason(self) -> Counter:
        total: Counter = Counter()
        for r in self.results:
            total.update(r.get("reasons") or {})
        return total

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["outcome"] in BAD]

    def count(self, outcome: str) -> int:
        return sum(r["outcome"] == outcome for r in self.results)

    def slowest(self, n: int = 1) -> list[dict[str, Any]]:
        return sorted(self.results, key=lambda r: -r.get("seconds", 0.0))[:n]

    def peak_rss_mb(self) -> tuple[float, float]:
        """(largest harness worker, largest decode worker) peak resident memory, MB."""
        return (max((r.get("rss_mb", 0.0) for r in self.results), default=0.0),
                max((r.get("child_rss_mb", 0.0) for r in self.results), default=0.0))

    def summary(self) -> dict[str, Any]:
        slow = self.slowest(1)
        return {
            "files": len(self.results), "seconds": round(self.seconds, 1),
            "by_format": {f: dict(sorted(c.items())) for f, c in self.by_format().items()},
            "skips_by_reason": dict(sorted(self.skips_by_reason().items())),
            "tracebacks": self.count("crash"), "unexpected_skips": self.count("unexpected-skip"),
            "unbalanced": self.count("unbalanced"), "escapes": self.count("escape"), "hangs": self.count("hang"),
            "memory_blowups": self.count("died"),
            "slowest": {k: slow[0].get(k) for k in ("fmt", "index", "seed", "name", "how", "seconds", "outcome")}
            if slow else None,
            "peak_rss_mb": dict(zip(("harness_worker", "decode_worker"), (round(x) for x in self.peak_rss_mb()))),
            "failures": [{k: r.get(k) for k in ("fmt", "index", "seed", "name", "how", "outcome", "detail")}
                         for r in self.failures()[:50]],
        }


def campaign(formats: Iterable[str] = FORMATS, per_format: int = 100, seed: int = 0, *, workers: int = 2,
             file_timeout_s: float = 10.0, hang_s: float | None = None, memory_mb: int = 3072,
             start: int = 0, progress: Callable[[dict[str, Any]], Any] | None = None,
             base: str | None = None) -> Report:
    """``per_format`` mutated files of each format (indices ``start`` ...), seeded by ``seed``."""
    formats = list(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown formats {unknown}; known: {', '.join(FORMATS)}")
    production = FileLimits(timeout_s=file_timeout_s, worker_memory_bytes=memory_mb * MB)
    harness = FileLimits(timeout_s=hang_s or max(120.0, 6 * file_timeout_s), max_pixels=None,
                         max_decoded_bytes=None, worker_memory_bytes=memory_mb * MB)
    tasks = [(f"{fmt}#{i}", fmt, seed, i, production, base)
             for i in range(start, start + per_format) for fmt in formats]
    report = Report()
    t0 = time.perf_counter()
    for key, ok, payload in run_guarded(harness_task, tasks, workers, harness):
        fmt, index = key.rsplit("#", 1)
        if ok:
            res = dict(payload[0])
        else:  # the harness's own limits: the case hung or killed its worker
            res = {"outcome": "hang" if payload[0] == "time-limit" else "died", "detail": payload[1],
                   "seconds": harness.timeout_s if payload[0] == "time-limit" else 0.0}
        case = None if ok else make_case(fmt, seed, int(index))
        res.update(fmt=fmt, index=int(index), seed=seed)
        if case is not None:
            res.update(name=case.name, how=case.how)
        report.results.append(res)
        if progress:
            progress(res)
    report.seconds = time.perf_counter() - t0
    report.results.sort(key=lambda r: (r["fmt"], r["index"]))
    return report
