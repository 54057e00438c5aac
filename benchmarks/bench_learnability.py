"""Is every synthetic task learnable by the reference model at a study's budget?

For each seed: the synthetic benchmark is generated and built with the study's data
settings; for each task, the reference model (the study's model and train settings,
unchanged) trains on two subsets of that task (a seeded draw: the size of a related arm)
and is scored on those subsets' held-out test items. Issue 14's goal: >= 90% for every
task and seed.

    .venv/bin/python benchmarks/bench_learnability.py examples/studies/synth-table3.yaml \
        --seeds 0 1 2 --out /tmp/learnability [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def main() -> None:
    from medmat.build import build
    from medmat.evaluate import evaluate
    from medmat.models import open_backbone
    from medmat.store import VQAStore
    from medmat.study.config import load_study

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("/tmp/medmat-learnability"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    table: dict[str, dict[int, float]] = {}
    t0 = time.perf_counter()
    for seed in args.seeds:
        cfg = load_study(args.study).for_seed(seed)
        store_dir = args.out / f"seed-{seed}" / "store"
        build(cfg.data, store_dir, work_dir=args.out / f"seed-{seed}" / "data")
        store = VQAStore(store_dir)
        subsets = store.subsets()
        for task in sorted({info.triplet.split("/")[2] for info in subsets.values()}):
            mine = sorted(sid for sid, info in subsets.items() if info.triplet.split("/")[2] == task)
            pick = sorted(random.Random(f"{seed}/{task}").sample(mine, min(2, len(mine))))
            train = [it for sid in pick for it in store.capped_train(sid, cfg.plan.cap or None, seed)]
            test = [it for sid in pick for it in store.items(sid, "test")]
            model = open_backbone(cfg.model_resolved(), seed=cfg.train.seed)
            model.fit(train, store.root, args.out / f"seed-{seed}" / "models" / task.replace(" ", "-"), cfg.train)
            res = evaluate(model, test, store.root, scorers=["option"], batch_size=cfg.eval.batch_size, n_boot=10)
            acc = res.metrics["overall"]["option"]["accuracy"]
            table.setdefault(task, {})[seed] = acc
            print(f"seed {seed}  {task:30s} {len(pick)} subsets, {len(train)} train / {len(test)} test items: "
                  f"{100 * acc:.1f}%", flush=True)
    worst = min(v for row in table.values() for v in row.values())
    print(f"\n{'task':30s} " + " ".join(f"seed {s:>3}" for s in args.seeds) + "   min")
    for task, row in table.items():
        print(f"{task:30s} " + " ".join(f"{100 * row[s]:7.1f}%" for s in args.seeds) + f" {100 * min(row.values()):5.1f}%")
    print(f"\nlowest: {100 * worst:.1f}% (goal >= 90%); {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps({"table": table, "lowest": worst}))


if __name__ == "__main__":
    main()
