"""Does an arm that never saw a target's label words score chance on it, seed after seed?

For each seed: the synthetic benchmark (the study's data settings, that seed) is built, a
target is drawn (seeded) among those with a related combination, the planner makes its
unrelated arm (subsets sharing no element, hence no label word, with the target), and the
reference model trains on it with the study's model and budget. The arm is scored on the
target's test items and compared with chance (the mean of 1/options). Issue 14's goal:
within 15 points of chance in every seed, within 3 points on average.

    .venv/bin/python benchmarks/bench_chance.py examples/studies/synth-table3.yaml --seeds 20 \
        --out /tmp/medmat-chance
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def main() -> None:
    from medmat.build import build
    from medmat.evaluate import evaluate
    from medmat.models import open_backbone
    from medmat.plan import PlanConfig, eligible_targets, plan_target
    from medmat.store import VQAStore
    from medmat.study.config import load_study

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("/tmp/medmat-chance"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    gaps = []
    for seed in range(args.seeds):
        cfg = load_study(args.study).for_seed(seed)
        where = args.out / f"seed-{seed}"
        build(cfg.data, where / "store", work_dir=where / "data")
        store = VQAStore(where / "store")
        plan = PlanConfig(arms=["related", "unrelated"], directions=["fixed-task"], max_per_direction=1, seed=seed)
        target = random.Random(seed).choice(eligible_targets(store, plan)[0])
        manifest = plan_target(store, target, plan)
        arm = next(a for a in manifest.arms if a.kind == "unrelated")
        by_id = store.by_id()
        train, test = [by_id[i] for i in arm.train], [by_id[i] for i in arm.test]
        target_words = {o.lower() for it in test for o in it.options}
        shared = target_words & {o.lower() for it in train for o in it.options}
        model = open_backbone(cfg.model_resolved(), seed=cfg.train.seed)
        model.fit(train, store.root, where / "model", cfg.train)
        acc = evaluate(model, test, store.root, scorers=["option"], n_boot=10).metrics["overall"]["option"]["accuracy"]
        chance = sum(1 / it.n_options for it in test) / len(test)
        gaps.append(acc - chance)
        print(f"seed {seed:2d}  {target:45s} unrelated arm {len(train):4d} items, label words shared: "
              f"{sorted(shared) or 'none'}; accuracy {100 * acc:5.1f}%, chance {100 * chance:5.1f}%, "
              f"gap {100 * (acc - chance):+5.1f}", flush=True)
    worst = max(abs(g) for g in gaps)
    mean = sum(gaps) / len(gaps)
    print(f"\n{len(gaps)} seeds: largest |gap| {100 * worst:.1f} points (goal <= 15), mean gap {100 * mean:+.2f} "
          f"points (goal within 3); {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
