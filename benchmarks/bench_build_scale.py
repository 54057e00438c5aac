"""Build at scale, in bounded memory (issue 12, point 4).

For each size, a synthetic raw dataset is written (50 subsets by default, one class-folder
dataset each with 4 labels; images alternate PNG and JPEG, 256-512 px on each side, every
one distinct) with a user catalog, and ``medmat build --all --workers 2`` builds it in a
fresh store. The build runs as its own process; its resident memory, summed over the
process and its image workers, is sampled from /proc. Then the same build is started
again in another store, killed (SIGKILL to its whole process group) once a share of the
images is written, and resumed: the resumed store must equal the uninterrupted one byte
for byte (items, store.json, summary, skips, stage-1 records, the set of images).

    .venv/bin/python benchmarks/bench_build_scale.py --sizes 10000,100000 [--subsets 50] [--workers 2]
        [--kill-at 0.5] [--kill-size 10000] [--work DIR] [--keep] [--json]

Reported per size: images, items, build seconds, images/s, items/s, ms per image, peak
RSS (MB, all processes). Ratios between the last and the first size: per-image cost
(goal <= 1.2) and peak RSS (goal <= 1.3; and every peak < 1.5 GiB). Generation time is
not part of the build time. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

LABELS = ("alpha", "beta", "gamma", "delta")
MODALITIES = ("CT", "MRI", "X-ray", "Ultrasound", "Dermoscopy")
AREAS = ("Brain", "Lung", "Chest", "Breast", "Bones", "Kidney", "Liver", "Skin", "Abdomen", "Thyroid")


def _image(args: tuple[str, int]) -> None:
    """One distinct smooth image (compresses like a scan, not like noise), PNG or JPEG.

    Every term is separable (outer products of 1-D curves), so 100,000 of them are quick."""
    path, seed = args
    rng = np.random.default_rng(seed)
    w, h = (int(x) for x in rng.integers(256, 513, 2))
    x, y = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    f0, f1, f2 = rng.uniform(0.005, 0.05, 3)
    base = 60 * (np.outer(np.sin(y * f1), np.cos(x * f0 + seed)) + np.outer(np.cos(y * f1), np.sin(x * f0 + seed)))
    base += 40 * (np.outer(np.cos(y * f2), np.cos(x * f2)) + np.outer(np.sin(y * f2), np.sin(x * f2)))
    for _ in range(3):  # a few blobs, so images differ in structure as well as phase
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 60)
        base += 50 * np.outer(np.exp(-((y - cy) ** 2) / (2 * r * r)), np.exp(-((x - cx) ** 2) / (2 * r * r)))
    grey = np.clip(base + 127, 0, 250).astype(np.uint8) + rng.integers(0, 2, (h, w), dtype=np.uint8)
    if path.endswith(".jpg"):
        Image.fromarray(np.stack([grey, np.roll(grey, 7, 0), grey[:, ::-1]], -1)).save(path, quality=90)
    else:
        Image.fromarray(grey).save(path, compress_level=3)


def generate(root: Path, n: int, subsets: int, workers: int) -> Path:
    """raw/<subset>/<label>/<i>.png|jpg and cat.yaml under ``root``; reused when complete."""
    done = root / "generated.json"
    if done.is_file() and json.loads(done.read_text()) == {"n": n, "subsets": subsets}:
        return root / "cat.yaml"
    shutil.rmtree(root, ignore_errors=True)
    jobs, tasks, subs, datasets = [], [], [], []
    for i in range(n):
        s, label = i % subsets, LABELS[(i // subsets) % len(LABELS)]
        path = root / "raw" / f"scale-{s:02d}" / label / f"{i:07d}.{'jpg' if i % 2 else 'png'}"
        jobs.append((str(path), 1_000_003 * n + i))
    for s in range(subsets):
        for label in LABELS:
            (root / "raw" / f"scale-{s:02d}" / label).mkdir(parents=True, exist_ok=True)
        task = f"Scale Task {s:02d}"
        tasks.append({"name": task, "family": task})
        common = {"modality": MODALITIES[s % len(MODALITIES)], "area": AREAS[s % len(AREAS)], "task": task}
        tpl = [f"Which class does this image show ({k})?" for k in range(6)]
        subs.append({"id": f"scale-{s:02d}", **common, "labels": list(LABELS), "templates": tpl})
        datasets.append({"id": f"scale-{s:02d}", "name": f"Scale {s:02d}", **common, "subset": f"scale-{s:02d}",
                         "labels": list(LABELS), "layout": {"type": "class_folders", "root": f"scale-{s:02d}"}})
    with mp.get_context("fork").Pool(workers) as pool:
        for _ in pool.imap_unordered(_image, jobs, chunksize=64):
            pass
    (root / "cat.yaml").write_text(yaml.safe_dump({"vocabulary": {"tasks": tasks}, "subsets": subs,
                                                   "datasets": datasets}, sort_keys=False))
    done.write_text(json.dumps({"n": n, "subsets": subsets}))
    return root / "cat.yaml"


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total


def _images_written(store: Path) -> int:
    folder = store / "images"
    if not folder.is_dir():
        return 0
    return sum(len(os.listdir(d.path)) for d in os.scandir(folder) if d.is_dir())


def run_build(cat: Path, raw: Path, store: Path, workers: int, kill_after: int | None = None) -> dict:
    """``medmat build`` in its own process group: wall seconds, peak tree RSS, exit code."""
    cmd = [sys.executable, "-m", "medmat.cli.main", "build", "--catalog", str(cat), "--data-root", str(raw), "--all",
           "--out", str(store), "--workers", str(workers), "--json"]
    peak, stop = [0], threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            if kill_after is not None and _images_written(store) >= kill_after:
                os.killpg(proc.pid, signal.SIGKILL)
                return
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    summary = json.loads(out) if proc.returncode == 0 and out else None
    return {"seconds": seconds, "peak_rss_mb": peak[0] / 2**20, "returncode": proc.returncode, "summary": summary}


def store_digest(store: Path) -> dict[str, bytes]:
    out = {n: (store / n).read_bytes() for n in ("items.jsonl", "store.json", "summary.json", "skips.jsonl")}
    out.update({p.relative_to(store).as_posix(): p.read_bytes() for p in sorted((store / "records").glob("*.jsonl"))})
    out["images"] = "\n".join(sorted(p.name for p in (store / "images").rglob("*.*"))).encode()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    ap.add_argument("--subsets", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-at", type=float, default=0.5, help="share of images written when the kill comes")
    ap.add_argument("--kill-size", type=int, default=None, help="size for the kill/resume check (default: first)")
    ap.add_argument("--work", type=Path, default=None, help="folder for raw data and stores (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    work = a.work or Path(tempfile.mkdtemp(prefix="medmat-scale-"))
    rows, ok = [], True
    try:
        for n in sizes:
            t0 = time.perf_counter()
            cat = generate(work / f"data-{n}", n, a.subsets, a.workers)
            gen_s = time.perf_counter() - t0
            store = work / f"store-{n}"
            shutil.rmtree(store, ignore_errors=True)
            res = run_build(cat, cat.parent / "raw", store, a.workers)
            if res["returncode"] != 0:
                raise SystemExit(f"build of {n} images failed (exit {res['returncode']})")
            totals = res["summary"]["totals"]
            rows.append({"images": n, "written": totals["written"], "items": totals["items"],
                         "skipped": totals["skipped"], "generate_s": round(gen_s, 1),
                         "build_s": round(res["seconds"], 1), "images_per_s": round(n / res["seconds"], 1),
                         "items_per_s": round(totals["items"] / res["seconds"], 1),
                         "ms_per_image": round(1000 * res["seconds"] / n, 2),
                         "peak_rss_mb": round(res["peak_rss_mb"])})
            print(f"built {n} images: {rows[-1]}", file=sys.stderr)
            if n == (a.kill_size or sizes[0]):
                killed = work / f"store-{n}-killed"
                shutil.rmtree(killed, ignore_errors=True)
                first = run_build(cat, cat.parent / "raw", killed, a.workers, kill_after=int(n * a.kill_at))
                written_at_kill = _images_written(killed)
                again = run_build(cat, cat.parent / "raw", killed, a.workers)
                same = again["returncode"] == 0 and store_digest(killed) == store_digest(store)
                rows[-1].update(killed_exit=first["returncode"], images_at_kill=written_at_kill,
                                resume_s=round(again["seconds"], 1), resumed_identical=same)
                ok &= same and first["returncode"] == -signal.SIGKILL
        first, last = rows[0], rows[-1]
        ratios = {"ms_per_image": round(last["ms_per_image"] / first["ms_per_image"], 3),
                  "peak_rss": round(last["peak_rss_mb"] / first["peak_rss_mb"], 3)}
        goals = {"ms_per_image<=1.2": ratios["ms_per_image"] <= 1.2, "peak_rss<=1.3": ratios["peak_rss"] <= 1.3,
                 "peak_rss<1.5GiB": all(r["peak_rss_mb"] < 1536 for r in rows)}
        report = {"sizes": rows, "ratios_last_vs_first": ratios, "goals": goals, "subsets": a.subsets,
                  "workers": a.workers, "command": " ".join(["benchmarks/bench_build_scale.py"] + sys.argv[1:])}
        if a.json:
            print(json.dumps(report, indent=1))
        else:
            print(f"{'images':>8} {'items':>8} {'build s':>8} {'img/s':>7} {'items/s':>8} {'ms/img':>7} {'peak MB':>8}")
            for r in rows:
                print(f"{r['images']:>8} {r['items']:>8} {r['build_s']:>8} {r['images_per_s']:>7} "
                      f"{r['items_per_s']:>8} {r['ms_per_image']:>7} {r['peak_rss_mb']:>8}")
            print(f"last/first: ms per image x{ratios['ms_per_image']}, peak RSS x{ratios['peak_rss']}; goals {goals}")
            for r in rows:
                if "resumed_identical" in r:
                    print(f"kill at {r['images_at_kill']} images of {r['images']} (exit {r['killed_exit']}), resumed in "
                          f"{r['resume_s']} s: identical output {r['resumed_identical']}")
        return 0 if ok else 1
    finally:
        if not a.keep and a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
