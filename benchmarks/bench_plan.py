"""Planner at Med-MAT scale: `medmat plan` wall time on the Med-MAT-sized synthetic store.

The store (tests/helpers/medmat_store.py): the 37 released Med-MAT triplets, 3,500 train +
400 test items each (144,300 items), no images. Each command runs as its own process, as a
user runs it, best of --repeat, wall and user+system CPU:

  * one target, all five arm kinds: `medmat plan --target "CT/Lung/COVID-19 Classification"
    --arms zero-shot --arms related --arms unrelated --arms leave-out --arms low-data --out F.yaml`
  * `medmat plan --all-targets --out-dir D` (YAML, default arms)
  * `medmat plan --all-targets --out-dir D --format json`

Baselines measured in the same run: the floor of reading the store (json.loads of every
line of items.jsonl and nothing else), and, with `--baseline SRC`, the same commands with
another checkout's package (`PYTHONPATH=SRC`, e.g. the code before issue 12:
`git archive e90adfc src | tar -x -C /tmp/before` then `--baseline /tmp/before/src`), whose
manifests are also compared with this checkout's (their arms and items; `settings` aside).

    .venv/bin/python benchmarks/bench_plan.py --store /tmp/medmat-sized       # the figures
    .venv/bin/python benchmarks/bench_plan.py --train 200 --test 20 --repeat 1   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.medmat_store import write_medmat_store  # noqa: E402

TARGET = "CT/Lung/COVID-19 Classification"
ALL_KINDS = ["--arms", "zero-shot", "--arms", "related", "--arms", "unrelated", "--arms", "leave-out",
             "--arms", "low-data"]
FLOOR = "import json,sys\nfor line in open(sys.argv[1], encoding='utf-8'): json.loads(line)"


def timed(cmd: list[str], env: dict[str, str], out: Path | None) -> tuple[float, float]:
    """(wall, user + system CPU) seconds of one run of ``cmd`` in a fresh process (``out`` emptied first:
    the planner keeps an existing manifest of the same store and settings)."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best(cmd: list[str], env: dict[str, str], out: Path | None, repeat: int) -> dict[str, float]:
    runs = [timed(cmd, env, out) for _ in range(repeat)]
    return {"wall_s": round(min(w for w, _ in runs), 2), "cpu_s": round(min(c for _, c in runs), 2)}


def chosen(folder: Path) -> dict[str, object]:
    """What the planner chose in each manifest of ``folder`` (``settings`` and new arm fields aside)."""
    import yaml

    keep = ("name", "kind", "direction", "train_subsets", "sources", "train", "test", "n_train", "matched_with", "k",
            "dropped_leaks", "downsized_from")
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix not in (".yaml", ".json"):
            continue
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else yaml.load(text, Loader=getattr(yaml, "CSafeLoader"))
        if "arms" in data and isinstance(data["arms"], list) and data["arms"] and "train" in data["arms"][0]:
            data = {"target": data["target"], "arms": [{k: a.get(k) for k in keep} for a in data["arms"]],
                    "skipped": data["skipped"]}
        else:
            data = {"targets": data.get("targets"), "skipped": data.get("skipped")}
        out[str(p.relative_to(folder))] = data
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, help="where the store is (made there if missing; default: a temp folder)")
    ap.add_argument("--train", type=int, default=3500, help="train items per subset")
    ap.add_argument("--test", type=int, default=400, help="test items per subset")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the best is kept")
    ap.add_argument("--baseline", type=Path, help="src folder of another checkout to compare with")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    store = a.store or work / "store"
    if not (store / "items.jsonl").is_file():
        write_medmat_store(store, n_train=a.train, n_test=a.test)
    n_items = sum(1 for _ in (store / "items.jsonl").open(encoding="utf-8"))
    medmat = [sys.executable, "-m", "medmat.cli.main", "plan", "--store", str(store)]
    commands = {  # name: (command, output folder, what the command is given as output)
        "one target, all arm kinds": (medmat + ["--target", TARGET, *ALL_KINDS, "--out"], "one", "one/plan.yaml"),
        "all targets (YAML)": (medmat + ["--all-targets", "--out-dir"], "all-yaml", "all-yaml"),
        "all targets (JSON)": (medmat + ["--all-targets", "--format", "json", "--out-dir"], "all-json", "all-json"),
    }
    env = dict(os.environ, MEDMAT_PROGRESS_EVERY="1000000")
    trees = {"this checkout": (env, work / "new")}
    if a.baseline:
        trees["baseline"] = (dict(env, PYTHONPATH=str(a.baseline.resolve())), work / "old")
    rows = []
    floor = best([sys.executable, "-c", FLOOR, str(store / "items.jsonl")], env, None, a.repeat)
    for name, (cmd, folder, given) in commands.items():
        row: dict[str, object] = {"command": name}
        for tree, (tree_env, out) in trees.items():
            row[tree] = best(cmd + [str(out / given)], tree_env, out / folder, a.repeat)
        if a.baseline:
            row["speedup_wall"] = round(row["baseline"]["wall_s"] / row["this checkout"]["wall_s"], 2)  # type: ignore[index]
            row["same_plans"] = chosen(work / "new" / folder) == chosen(work / "old" / folder)
        row["over_read_floor"] = round(row["this checkout"]["wall_s"] / floor["wall_s"], 2)  # type: ignore[index]
        rows.append(row)
    result = {"store_items": n_items, "cpus": os.cpu_count(), "read_floor": floor, "rows": rows}
    shutil.rmtree(work, ignore_errors=True)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"store: {n_items} items; {os.cpu_count()} CPUs; best of {a.repeat}; "
          f"read floor (json.loads of every line): {floor['wall_s']} s wall")
    head = "| command | wall | CPU | x read floor |" + (" baseline wall | speed-up | same plans |" if a.baseline else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        new = r["this checkout"]
        line = f"| {r['command']} | {new['wall_s']} s | {new['cpu_s']} s | {r['over_read_floor']} |"  # type: ignore[index]
        if a.baseline:
            old = r["baseline"]
            line += f" {old['wall_s']} s | {r['speedup_wall']}x | {r['same_plans']} |"  # type: ignore[index]
        print(line)


if __name__ == "__main__":
    main()
