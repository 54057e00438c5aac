"""Compositional-generalization experiment of the reference model on the synthetic benchmark.

For each target triplet (M, A, T) of the synthetic design:
  zero-shot  the untrained reference model;
  unrelated  trained on design triplets sharing no element with the target;
  related    trained on design triplets sharing at least one element (together they supply
             M, A and T), never the target itself;
both trained arms with the SAME number of items (subset-balanced, label-balanced draw),
identical hyper-parameters and seed. Accuracy on the target's test items with 95% bootstrap
intervals, in-distribution accuracy on held-out items of the arm's own training triplets,
and the related - unrelated gain (paired bootstrap over target items; mean over targets).

Items are built minimally here (question from the task's templates, options = the task's
labels in a per-item shuffled order); the real VQA builder replaces this later.

    .venv/bin/python benchmarks/cg_synth.py --out /tmp/cg [--seed 0] [--tag name] [--targets M/A/T ...]

Defaults are the settings recommended for the demo (docs/reference-model.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from medmat.io import read_jsonl, stable_hash, write_json, write_jsonl  # noqa: E402
from medmat.models.base import TrainConfig  # noqa: E402
from medmat.models.reference import ReferenceBackbone, ReferenceConfig  # noqa: E402
from medmat.records import LETTERS, VQAItem, format_question_choice  # noqa: E402
from medmat.synth.design import load_design  # noqa: E402
from medmat.mat import Triplet  # noqa: E402


# -- data -----------------------------------------------------------------------------------
def design_triplets() -> list[str]:
    from medmat.synth.design import choose_triplets

    d = load_design()
    return list(d.triplets) or choose_triplets(d)


def sample_all(triplets: list[str], per_label: int, test_fraction: float, size: int, seed: int) -> list:
    """Latents of every (triplet, label): C1's ``sample_latents`` when importable."""
    try:
        from medmat.synth import SynthConfig, sample_latents  # type: ignore[attr-defined]
    except ImportError:
        return _fallback_latents(triplets, per_label, test_fraction, seed)
    cfg = SynthConfig(seed=seed, size=size, per_label=per_label, test_fraction=test_fraction, triplets=triplets)
    return list(sample_latents(cfg))


def _fallback_latents(triplets, per_label, test_fraction, seed):
    from medmat.synth.findings import FINDINGS, Placer
    from medmat.synth.latent import Latent, Pose

    d = load_design()
    v = d.vocab()
    out = []
    n_test = int(round(per_label * test_fraction))
    for s in triplets:
        tr = Triplet.parse(s, v)
        task = d.task(tr.task)
        for li, label in enumerate(task.labels):
            for k in range(per_label):
                rng = np.random.default_rng([seed, int(stable_hash(s, n=8), 16), li, k])
                pose = Pose(dx=float(rng.uniform(-0.06, 0.06)), dy=float(rng.uniform(-0.06, 0.06)),
                            scale=float(rng.uniform(0.9, 1.1)), angle=float(rng.uniform(-0.25, 0.25)))
                lesions, quality = FINDINGS.get(task.key).sample(label, rng, Placer(tr.area, pose, rng))
                out.append(Latent(id=stable_hash(s, label, k), modality=tr.modality, area=tr.area, task=tr.task,
                                  label=label, seed=int(rng.integers(2**31)), split="test" if k < n_test else "train",
                                  pose=pose, lesions=lesions, quality=quality))
    return out


def build_items(latents: list, root: Path, size: int) -> list[VQAItem]:
    """Render (once; kept across runs) and wrap every latent in a single-choice item."""
    from PIL import Image

    from medmat.synth.render import render

    d = load_design()
    items = []
    for i, lat in enumerate(latents):
        rel = f"images/{size}/{lat.id}.png"
        if not (root / rel).is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(render(lat, size)).save(root / rel)
        task = d.task(lat.task)
        h = int(stable_hash("item", lat.id, n=8), 16)
        tpl = task.templates[h % len(task.templates)]
        q = tpl.format(modality=d.modalities[lat.modality], area=d.areas[lat.area])
        q = q[0].upper() + q[1:]
        opts = [task.labels[j] for j in np.random.default_rng(h).permutation(len(task.labels))][: len(LETTERS)]
        ans = opts.index(lat.label)
        trip = f"{lat.modality}/{lat.area}/{lat.task}"
        items.append(VQAItem(
            id=i, caption=lat.label, image=rel, question=q, answer=lat.label,
            question_choice=format_question_choice(q, opts), answer_choice=LETTERS[ans], data_no=trip,
            item_id=f"{lat.id}", triplet=trip, subset=trip, split=lat.split, dataset="synth",
            source_record=lat.id, options=opts, answer_index=ans, labels=[lat.label], template=h % len(task.templates),
        ))
    return items


# -- arms -----------------------------------------------------------------------------------
def shared(a: Triplet, b: Triplet) -> int:
    return (a.modality == b.modality) + (a.area == b.area) + (a.task == b.task)


def pools(target: str, triplets: list[str]) -> tuple[list[str], list[str]]:
    v = load_design().vocab()
    t = Triplet.parse(target, v)
    others = [(s, Triplet.parse(s, v)) for s in triplets if s != target]
    related = [s for s, p in others if shared(t, p) > 0]
    unrelated = [s for s, p in others if shared(t, p) == 0]
    rel = [Triplet.parse(s, v) for s in related]
    if not (any(p.modality == t.modality for p in rel) and any(p.area == t.area for p in rel)
            and any(p.task == t.task for p in rel)):
        raise ValueError(f"{target}: the related triplets do not supply all of M, A and T")
    return related, unrelated


def draw(items: list[VQAItem], subsets: list[str], n: int, seed: int) -> list[VQAItem]:
    """n train items spread evenly over ``subsets`` (round-robin over subsets, then labels)."""
    rng = np.random.default_rng(seed)
    queues = []
    for s in subsets:
        by_label: dict[str, list[VQAItem]] = {}
        for it in items:
            if it.subset == s and it.split == "train":
                by_label.setdefault(it.answer, []).append(it)
        lab_q = [list(np.array(v, dtype=object)[rng.permutation(len(v))]) for _, v in sorted(by_label.items())]
        flat = [q[i] for i in range(max(map(len, lab_q))) for q in lab_q if i < len(q)]
        queues.append(flat)
    out: list[VQAItem] = []
    i = 0
    while len(out) < n and any(queues):
        q = queues[i % len(queues)]
        if q:
            out.append(q.pop(0))
        i += 1
    if len(out) < n:
        raise ValueError(f"only {len(out)} train items in {len(subsets)} subsets, {n} asked")
    return sorted(out, key=lambda it: it.item_id)


# -- stats ----------------------------------------------------------------------------------
def boot(correct: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, len(correct), (n_boot, len(correct)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def correct_of(bb: ReferenceBackbone, items: list[VQAItem], root: Path) -> np.ndarray:
    scores = bb.score_options(items, root, batch_size=256)
    return np.array([int(np.argmax(s) == it.answer_index) for s, it in zip(scores, items)], dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--per-label", type=int, default=48)
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", nargs="*", default=None)
    ap.add_argument("--n-targets", type=int, default=3)
    ap.add_argument("--model", default="{}", help="ReferenceConfig fields as JSON")
    ap.add_argument("--extra", default="{}", help="TrainConfig.extra as JSON")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--tag", default="default", help="runs go to OUT/runs/TAG (checkpoints of other settings are refused)")
    args = ap.parse_args()
    root = args.out
    t0 = time.perf_counter()
    triplets = design_triplets()
    cache = root / f"items-{stable_hash(triplets, args.size, args.per_label, args.test_fraction, args.seed)}.jsonl"
    if cache.is_file():
        items = [VQAItem.from_dict(d) for d in read_jsonl(cache)]
    else:
        latents = sample_all(triplets, args.per_label, args.test_fraction, args.size, args.seed)
        items = build_items(latents, root, args.size)
        write_jsonl(cache, [it.to_dict() for it in items])
    gen_s = time.perf_counter() - t0
    print(f"{len(items)} items from {len(triplets)} triplets in {gen_s:.1f}s", flush=True)
    targets = args.targets or pick_targets(triplets, args.n_targets)
    model_kw = {"image_size": args.size, "seed": args.seed, **json.loads(args.model)}
    tcfg = TrainConfig(seed=args.seed, max_steps=args.steps, batch_size=args.batch, lr=args.lr, warmup_ratio=args.warmup,
                       weight_decay=args.wd, save_every=10**9, extra={"threads": args.threads, **json.loads(args.extra)})
    rows, gains = [], []
    for ti, target in enumerate(targets):
        related, unrelated = pools(target, triplets)
        test = [it for it in items if it.subset == target and it.split == "test"]
        row = {"target": target, "n_test": len(test), "related_subsets": related, "unrelated_subsets": unrelated}
        zs = ReferenceBackbone(ReferenceConfig(**model_kw), threads=args.threads)
        c = correct_of(zs, test, root)
        row["zero_shot"] = {"acc": c.mean(), "ci": boot(c, args.n_boot, 1)}
        correct = {}
        for arm, subs in (("unrelated", unrelated), ("related", related)):
            train = draw(items, subs, args.n_train, args.seed)
            assert not any(it.subset == target for it in train)
            bb = ReferenceBackbone(ReferenceConfig(**model_kw), threads=args.threads)
            facts = bb.fit(train, root, root / "runs" / args.tag / f"t{ti}-{arm}", tcfg, on_step=_log_step)
            c = correct_of(bb, test, root)
            ind = [it for it in items if it.subset in subs and it.split == "test"]
            ci = correct_of(bb, ind, root)
            correct[arm] = c
            row[arm] = {"acc": c.mean(), "ci": boot(c, args.n_boot, 2), "in_dist": ci.mean(), "in_dist_ci": boot(ci, args.n_boot, 3),
                        "seconds": facts["seconds"], "cpu_seconds": facts["cpu_seconds"], "final_loss": facts["final_loss"], "n_train": len(train)}
            print(f"  {target} {arm}: target {c.mean():.3f} in-dist {ci.mean():.3f} loss {facts['final_loss']:.3f} "
                  f"{facts['seconds']:.0f}s", flush=True)
        diff = correct["related"] - correct["unrelated"]
        row["gain"] = {"mean": diff.mean(), "ci": boot(diff, args.n_boot, 4)}
        gains.append(diff)
        rows.append(row)
    rng = np.random.default_rng(5)
    boots = np.array([[g[rng.integers(0, len(g), len(g))].mean() for g in gains] for _ in range(args.n_boot)]).mean(axis=1)
    summary = {"mean_gain": float(np.mean([g.mean() for g in gains])),
               "mean_gain_ci": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
               "train_seconds": [r[a]["seconds"] for r in rows for a in ("unrelated", "related")],
               "total_seconds": time.perf_counter() - t0, "generate_seconds": gen_s}
    print_table(rows, summary)
    write_json(root / f"cg_results-{args.tag}.json", {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "summary": summary})


def _log_step(done: int, total: int, loss: float) -> None:
    if done % 100 == 0 or done == total:
        print(f"    step {done}/{total} loss {loss:.3f}", flush=True)


DEFAULT_TARGETS = ["Dermoscopy/Brain/Image Quality Grading", "Dermoscopy/Brain/Lesion Laterality", "CT/Brain/Lesion Presence"]


def pick_targets(triplets: list[str], n: int) -> list[str]:
    """The measured default targets when the design has them, else the best-covered
    targets of the design, one per task while possible."""
    from medmat.synth.design import cg_targets

    if n <= len(DEFAULT_TARGETS) and all(t in triplets for t in DEFAULT_TARGETS[:n]):
        return DEFAULT_TARGETS[:n]

    ranked = [c.triplet for c in cg_targets(triplets, min_directions=3)]
    v = load_design().vocab()
    out, seen = [], set()
    for s in ranked:
        task = Triplet.parse(s, v).task
        if task not in seen:
            out.append(s)
            seen.add(task)
        if len(out) == n:
            return out
    return (out + [s for s in ranked if s not in out])[:n]


def print_table(rows: list[dict], summary: dict) -> None:
    def f(d):
        return f"{d['acc']:.2f} [{d['ci'][0]:.2f},{d['ci'][1]:.2f}]"

    print(f"\n{'target':48} {'zero-shot':>17} {'unrelated':>17} {'related':>17} {'in-dist(rel/unr)':>17} {'gain':>20}")
    for r in rows:
        g = r["gain"]
        print(f"{r['target']:48} {f(r['zero_shot']):>17} {f(r['unrelated']):>17} {f(r['related']):>17} "
              f"{r['related']['in_dist']:.2f}/{r['unrelated']['in_dist']:.2f}       "
              f"{g['mean']:+.3f} [{g['ci'][0]:+.2f},{g['ci'][1]:+.2f}]")
    lo, hi = summary["mean_gain_ci"]
    print(f"mean gain related - unrelated: {summary['mean_gain']:+.3f} [{lo:+.3f}, {hi:+.3f}]; "
          f"seconds per training: {np.mean(summary['train_seconds']):.1f}; total {summary['total_seconds']:.0f}s")


if __name__ == "__main__":
    main()
