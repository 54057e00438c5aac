"""Synthetic generator throughput (images/s, one core) against the floor cost of writing.

For each size the run measures, in the same process and on the same latents:
  baseline : PNG-encode (same encoder and settings) a precomputed random image of that size
  render   : render(latent, size) + PNG encode          (pixels only)
  pipeline : sample latent + render + encode + atomic file write   (what `generate` does)
and prints images/s (CPU seconds of this process, so other load on the machine matters
less than wall time would) and the ratio of each to the baseline.

    .venv/bin/python benchmarks/bench_synth.py [--n 600] [--sizes 64 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from medmat.synth import SynthConfig, render
from medmat.synth.png import encode_png
from medmat.synth.sample import jobs, sample_one
from medmat.synth.writer import _write


def _rate(fn, items) -> float:
    t = time.process_time()
    for x in items:
        fn(x)
    return len(items) / max(time.process_time() - t, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"{'size':>5} {'baseline/s':>11} {'render+png/s':>13} {'pipeline/s':>11} {'render/base':>12} {'pipe/base':>10}")
    for size in args.sizes:
        config = SynthConfig(size=size, per_label=max(1, args.n // 129 + 1))
        todo = jobs(config)[: args.n]
        latents = [sample_one(j, config) for j in todo]
        rng = np.random.default_rng(0)
        noise = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(16)]
        base = _rate(lambda i: encode_png(noise[i % 16]), list(range(len(todo))))
        rend = _rate(lambda lat: encode_png(render(lat, size)), latents)
        with tempfile.TemporaryDirectory() as tmp:
            def pipe(job):
                lat = sample_one(job, config)
                _write(Path(tmp) / lat.path, encode_png(render(lat, size)))
            pipeline = _rate(pipe, todo)
        print(f"{size:>5} {base:>11.0f} {rend:>13.0f} {pipeline:>11.0f} {rend / base:>12.3f} {pipeline / base:>10.3f}")


if __name__ == "__main__":
    main()
