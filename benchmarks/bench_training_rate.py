"""Trainings per minute of the reference model: the Table-3 budget against medmat 0.1's demo
budget, on the same items, in one run.

medmat 0.1's demo trained each arm for 1000 steps at 64 px with widths 16/32/64; the Table-3
study (and today's demo) trains 400 steps at 48 px with widths 8/16/32. Both train the same
related-arm-sized set (two subsets of one task) of a synthetic store built here.

    .venv/bin/python benchmarks/bench_training_rate.py --repeats 3 --out /tmp/medmat-rate
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

BUDGETS = {
    "medmat 0.1 demo (64 px, 16/32/64, 1000 steps)": ({"image_size": 64, "channels": [16, 32, 64]},
                                                       {"max_steps": 1000, "lr": 0.003}),
    "Table-3 study (48 px, 8/16/32, 400 steps)": ({"image_size": 48, "channels": [8, 16, 32]},
                                                  {"max_steps": 400, "lr": 0.0015}),
}


def main() -> None:
    from medmat.build import BuildConfig, build
    from medmat.models import ModelConfig, TrainConfig, open_backbone
    from medmat.store import VQAStore
    from medmat.synth import SynthConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/medmat-rate"))
    args = ap.parse_args()
    build(BuildConfig(synth=SynthConfig(seed=0, per_label=60, test_fraction=0.3), workers=2), args.out / "store",
          work_dir=args.out / "data")
    store = VQAStore(args.out / "store")
    pick = sorted(sid for sid, info in store.subsets().items() if info.triplet.endswith("/Lesion Presence"))[:2]
    items = [it for sid in pick for it in store.items(sid, "train")]
    rates = {}
    for name, (options, train) in BUDGETS.items():
        secs = []
        for r in range(args.repeats):
            model = open_backbone(ModelConfig(backbone="reference", options=options), seed=r)
            cfg = TrainConfig(seed=r, batch_size=32, warmup_ratio=0.05, save_every=100000, **train)
            t0 = time.perf_counter()
            model.fit(items, store.root, args.out / "models" / f"{len(rates)}-{r}", cfg)
            secs.append(time.perf_counter() - t0)
        rates[name] = 60 / min(secs)
        print(f"{name:50s} best of {args.repeats}: {min(secs):6.2f} s per training, {rates[name]:5.1f} trainings/min")
    old, new = rates.values()
    print(f"speed-up: {new / old:.1f}x ({len(items)} training items)")


if __name__ == "__main__":
    main()
