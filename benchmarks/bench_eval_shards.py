"""Sharded evaluation throughput: 1 process against 2 under `accelerate launch`, in one run.

2 CPU processes with the gloo backend stand in for 2 GPUs (examples/accelerate/ddp-cpu.yaml),
each with ONE thread, against one process with one thread: each process has one "device".
A third row, one process with 2 threads, shows what one process gets from both cores.
Backbones: the CPU reference model (fresh from its seed) and a tiny Qwen2-VL
(medmat.models.tiny), each scored with the option scorer and the generation scorer.

Each launch runs `evaluate_arm` (the eval stage's operation, as `medmat eval` does) on a
store of N items. Two times: "scoring", the slowest rank's time inside the scorers (what
throughput means: items/s), and "total", rank 0's wall clock from after a barrier to the
end of `evaluate_arm` (model loading, every scorer, the gather, metrics, writing the
files; loading is a fixed cost per process, so this ratio grows with N). Checks that the
2-process predictions equal the 1-process ones byte for byte.

    .venv/bin/python benchmarks/bench_eval_shards.py                      # the figures
    .venv/bin/python benchmarks/bench_eval_shards.py --items 16 --hf-items 8   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "accelerate" / "ddp-cpu.yaml"
REF_OPTIONS = {"threads": 1, "image_size": 64}


def worker(a: argparse.Namespace) -> None:
    """One process of a launch: evaluate, then rank 0 prints the timing as JSON."""
    from medmat.evaluate import EvalConfig, evaluate_arm, subset_items
    from medmat.models.base import ModelConfig
    from medmat.runtime import all_gather, barrier, join_launch, rank

    import torch

    torch.set_num_threads(a.threads)
    join_launch()
    options = json.loads(a.options)
    if "threads" in options:
        options["threads"] = a.threads
    model = ModelConfig(backbone=a.backbone, options=options)
    cfg = EvalConfig(scorers=["option", "generate"], batch_size=a.batch_size, max_new_tokens=4, n_boot=200)
    what = subset_items(a.store, "t1", "test")
    barrier("the start")
    t0 = time.perf_counter()
    result = evaluate_arm(what, model, a.checkpoint, cfg, a.out, resume=False)
    seconds = time.perf_counter() - t0
    times = all_gather((seconds, sum(result.timing.values())), "timing")
    if rank() == 0:
        print("RESULT " + json.dumps({"seconds": max(t for t, _ in times), "scoring": max(s for _, s in times),
                                      "items": len(what.items), "rows": len(result.predictions)}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(processes: int, threads: int, args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG), "--num_processes",
           str(processes), "--main_process_port", str(free_port()), __file__, "--worker", "--threads", str(threads),
           *args]
    if processes == 1:  # one process needs no launcher (and gets none from `medmat eval` either)
        cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if r.returncode != 0 or line is None:
        raise SystemExit(f"launch failed ({processes} processes):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=512, help="questions for the reference model")
    ap.add_argument("--hf-items", type=int, default=512, help="questions for the tiny Qwen2-VL")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--backbone", help=argparse.SUPPRESS)
    ap.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return
    from medmat.models.tiny import build_tiny, write_tiny_store

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        tiny = build_tiny("qwen2-vl", tmp_path / "tiny", seed=0)
        cases = [
            ("reference", a.items, None, REF_OPTIONS),
            ("qwen2-vl (tiny)", a.hf_items, str(tiny), {"max_pixels": 3136}),
        ]
        for name, n, ckpt, options in cases:
            store = tmp_path / f"store-{n}"
            if not store.exists():
                write_tiny_store(store, n_items=n, seed=0, splits=("test",))
            backbone = "reference" if ckpt is None else "qwen2-vl"
            base = ["--backbone", backbone, "--options", json.dumps(options), "--store", str(store),
                    "--batch-size", str(a.batch_size)] + (["--checkpoint", ckpt] if ckpt else [])
            res = {}
            for procs, threads in ((1, 1), (2, 1), (1, 2)):
                out = tmp_path / f"out-{backbone}-{procs}x{threads}"
                res[(procs, threads)] = launch(procs, threads, base + ["--out", str(out)])
            same = all((tmp_path / f"out-{backbone}-2x1" / f).read_bytes() == (tmp_path / f"out-{backbone}-1x1" / f)
                       .read_bytes() for f in ("predictions.jsonl", "metrics.json"))
            one, two, wide = res[(1, 1)], res[(2, 1)], res[(1, 2)]
            rows.append({
                "backbone": name, "items": n, "questions": one["rows"],
                "one_process_scoring_s": round(one["scoring"], 2), "two_processes_scoring_s": round(two["scoring"], 2),
                "one_process_items_per_s": round(n / one["scoring"], 1),
                "two_processes_items_per_s": round(n / two["scoring"], 1),
                "speedup_2_over_1": round(one["scoring"] / two["scoring"], 2),
                "speedup_1x2threads_over_1": round(one["scoring"] / wide["scoring"], 2),
                "one_process_total_s": round(one["seconds"], 2), "two_processes_total_s": round(two["seconds"], 2),
                "total_speedup_2_over_1": round(one["seconds"] / two["seconds"], 2),
                "identical_predictions": same,
            })
    if a.json:
        print(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
        return
    print(f"{os.cpu_count()} CPUs; batch size {a.batch_size}; option + generate scorers")
    print("| backbone | items | 1 process (1 thread) | 2 processes (1 thread each) | speed-up (scoring) | "
          "1 process, 2 threads | total 1 / 2 processes | identical predictions |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backbone']} | {r['items']} | {r['one_process_items_per_s']} items/s | "
              f"{r['two_processes_items_per_s']} items/s | **{r['speedup_2_over_1']}x** | "
              f"{r['speedup_1x2threads_over_1']}x | {r['one_process_total_s']} s / {r['two_processes_total_s']} s "
              f"({r['total_speedup_2_over_1']}x) | {r['identical_predictions']} |")

if __name__ == "__main__":
    main()
