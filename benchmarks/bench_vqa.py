"""Throughput of the VQA builder (records -> Med-MAT questions), one core.

Baseline, measured in the same run on the same items: serialising them (``to_dict`` +
deterministic ``json.dumps``, what writing items.jsonl costs anyway). The builder should
not be much slower than writing its output, and must reach >= 50,000 items/s. Times are
process CPU seconds (best of --repeat), so other load on the machine matters less.

    .venv/bin/python benchmarks/bench_vqa.py [--records 200000] [--labels 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import platform
import time

from medmat.io import dumps
from medmat.records import LabeledRecord
from medmat.vqa import SubsetSpec, build_items, build_subsets


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()  # CPU time of this process: robust to a busy shared machine
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--labels", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    labels = [f"label-{i}" for i in range(a.labels)]
    recs = [LabeledRecord(f"ds:{i:08x}", "ds", f"images/{i % 256:02x}/{i:064x}.png", (labels[i % a.labels],),
                          meta={"image_hash": f"{i:064x}"}) for i in range(a.records)]
    spec = SubsetSpec("03", "CT/Lung/COVID-19 Classification", labels,
                      [f"Template {i}: which finding does this chest CT show?" for i in range(6)], datasets=["ds"])
    splits = {r.id: ("test" if i % 10 == 0 else "train") for i, r in enumerate(recs)}
    items, _ = build_items(recs, spec, splits)

    t_build = best(lambda: build_items(recs, spec, splits), a.repeat)
    t_full = best(lambda: build_subsets({"ds": recs}, [spec]), a.repeat)
    t_dump = best(lambda: [dumps(it.to_dict()) for it in items], a.repeat)
    n = len(items)
    print(f"python {platform.python_version()} on {platform.machine()}, {a.records} records, {a.labels} labels")
    print(f"build_items            {n / t_build:>12,.0f} items/s  ({t_build:.3f} s)")
    print(f"build_subsets (+split) {n / t_full:>12,.0f} items/s  ({t_full:.3f} s)")
    print(f"baseline: serialise    {n / t_dump:>12,.0f} items/s  ({t_dump:.3f} s)")
    print(f"ratio build_items / serialise time: {t_build / t_dump:.2f}x; "
          f"target >= 50,000 items/s: {'met' if n / t_build >= 50_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
