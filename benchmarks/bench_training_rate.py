"""Trainings per minute of the reference model, as a study runs them, in one run.

Every configuration trains the same related-arm-sized set (two subsets of one task) of a
synthetic store built here, each training in a fresh model with its own seed:

* medmat 0.1's demo budget (1000 steps at 64 px, widths 16/32/64), 1 process x 2 threads;
* the Table-3 budget (400 steps at 48 px, widths 8/16/32):
  - 1 process x 2 threads with glibc's default allocator settings (how the Table-3 study
    trained before ``train_workers`` and ``medmat.runtime.tune_allocator``; the baseline),
  - 1 process x 2 threads with the allocator tuned,
  - 2 processes x 1 thread with the allocator tuned (``train_workers: 2`` and
    ``train.extra.threads: 1``, how examples/studies/synth-table3.yaml trains now).

Each configuration runs in fresh processes (the allocator setting is process-wide), the
configurations take turns for ``--repeats`` rounds, and the best round of each is kept.
A round's time runs from the first training's start to the last one's end over all its
processes (process start-up and imports excluded: a study pays them once per seed).

    .venv/bin/python benchmarks/bench_training_rate.py --trainings 4 --repeats 3 --out /tmp/medmat-rate
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BUDGETS = {
    "0.1-demo": ({"image_size": 64, "channels": [16, 32, 64]}, {"max_steps": 1000, "lr": 0.003}),
    "table3": ({"image_size": 48, "channels": [8, 16, 32]}, {"max_steps": 400, "lr": 0.0015}),
}
# name: (budget, processes, torch threads per process, tune the allocator)
CONFIGS = {
    "medmat 0.1 demo budget, 1 proc x 2 threads": ("0.1-demo", 1, 2, False),
    "Table-3 budget, 1 proc x 2 threads, glibc defaults": ("table3", 1, 2, False),
    "Table-3 budget, 1 proc x 2 threads, allocator tuned": ("table3", 1, 2, True),
    "Table-3 budget, 2 procs x 1 thread, allocator tuned": ("table3", 2, 1, True),
}
BASELINE = "Table-3 budget, 1 proc x 2 threads, glibc defaults"


def child(args: argparse.Namespace) -> None:
    """Train the given seeds one after the other; print start and end times as JSON."""
    from medmat.models import ModelConfig, TrainConfig, open_backbone
    from medmat.store import VQAStore

    store = VQAStore(args.store)
    pick = sorted(sid for sid, info in store.subsets().items() if info.triplet.endswith("/Lesion Presence"))[:2]
    items = [it for sid in pick for it in store.items(sid, "train")]
    options, train = BUDGETS[args.budget]
    start = time.time()
    for seed in args.seeds:
        model = open_backbone(ModelConfig(backbone="reference", options=options), seed=seed)
        cfg = TrainConfig(seed=seed, batch_size=32, warmup_ratio=0.05, save_every=100000,
                          extra={"threads": args.threads}, **train)
        model.fit(items, store.root, args.models / f"{args.budget}-{os.getpid()}-{seed}", cfg)
    print(json.dumps({"start": start, "end": time.time(), "n": len(args.seeds), "n_items": len(items)}))


def one_round(name: str, args: argparse.Namespace, round_no: int) -> tuple[float, int]:
    budget, procs, threads, tuned = CONFIGS[name]
    seeds = list(range(round_no * 100, round_no * 100 + args.trainings))
    env = {**os.environ, "MEDMAT_TUNE_MALLOC": "1" if tuned else "0"}
    running = [subprocess.Popen([sys.executable, __file__, "--child", "--store", str(args.out / "store"),
                                 "--models", str(args.out / "models"), "--budget", budget, "--threads", str(threads),
                                 "--seeds", *map(str, seeds[p::procs])], env=env, stdout=subprocess.PIPE, text=True)
               for p in range(procs)]
    reports = []
    for proc in running:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{name}: a training process failed ({proc.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return wall, reports[0]["n_items"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trainings", type=int, default=4, help="trainings per configuration and round")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/medmat-rate"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--budget", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from medmat.build import BuildConfig, build
    from medmat.synth import SynthConfig

    build(BuildConfig(synth=SynthConfig(seed=0, per_label=60, test_fraction=0.3), workers=2), args.out / "store",
          work_dir=args.out / "data")
    best: dict[str, float] = {}
    n_items = 0
    for r in range(args.repeats):
        for name in CONFIGS:
            wall, n_items = one_round(name, args, r)
            best[name] = min(best.get(name, wall), wall)
            print(f"round {r}: {name:55s} {args.trainings} trainings in {wall:6.1f} s", flush=True)
    print(f"\n{args.trainings} trainings per round on {n_items} items, best of {args.repeats} rounds; "
          f"{os.cpu_count()} cores")
    base = args.trainings * 60 / best[BASELINE]
    for name, wall in best.items():
        rate = args.trainings * 60 / wall
        print(f"{name:55s} {wall / args.trainings:6.2f} s per training, {rate:5.1f} trainings/min, "
              f"{rate / base:4.2f}x the baseline")


if __name__ == "__main__":
    main()
