"""Training throughput of the reference model at 64 px on 1 and 2 CPU threads.

Baseline measured in the same run: a plain torch CNN with the same convolution widths and
pooling but no text branch, no FiLM and no augmentation, trained with the same batch and
optimiser on the same cached tensors. The ratio says what the text branch, FiLM,
augmentation and option scoring cost on top of "just the CNN".

    .venv/bin/python benchmarks/bench_reference.py [--steps 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from medmat.models.base import TrainConfig  # noqa: E402
from medmat.models.reference import ReferenceBackbone, ReferenceConfig  # noqa: E402
from medmat.records import LETTERS, VQAItem, format_question_choice  # noqa: E402

LABELS = ["normal", "nodule", "mass", "cyst"]


def make_items(root: Path, n: int, size: int) -> list[VQAItem]:
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        rel = f"img/{i:05d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / rel)
        opts = list(rng.permutation(LABELS))
        q = "What abnormality is visible in this CT image of the lung?"
        ans = int(rng.integers(0, 4))
        items.append(VQAItem(
            id=i, caption=opts[ans], image=rel, question=q, answer=opts[ans], question_choice=format_question_choice(q, opts),
            answer_choice=LETTERS[ans], data_no="b", item_id=f"b{i:05d}", triplet="CT/Lung/X", subset="b", split="train",
            dataset="bench", source_record=str(i), options=opts, answer_index=ans, labels=[opts[ans]],
        ))
    return items


class PlainCNN(nn.Module):
    """Same conv/norm/pool stack as the reference image encoder, a linear class head."""

    def __init__(self, widths: tuple[int, ...], n_cls: int = 4):
        super().__init__()
        w = (1, *widths)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(w[:-1], w[1:]))
        self.norms = nn.ModuleList(nn.GroupNorm(min(8, b), b, affine=False) for b in w[1:])
        self.fc = nn.Linear(2 * w[-1], n_cls)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(F.relu(norm(conv(x))), 2)
        return self.fc(torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=-1))


def bench_plain(items: list[VQAItem], root: Path, cfg: ReferenceConfig, steps: int, batch: int, threads: int) -> float:
    from medmat.models.reference.images import ImageCache, to_input

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cache = ImageCache(items, root, cfg.image_size, cfg.color)
    y = torch.tensor([it.answer_index for it in items])
    net = PlainCNN(cfg.channels)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for s in range(steps):
        idx = torch.arange(s * batch, (s + 1) * batch) % len(items)
        loss = F.cross_entropy(net(to_input(cache.pixels[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def bench_reference(items, root, cfg: ReferenceConfig, steps: int, batch: int, threads: int, augment: bool) -> float:
    bb = ReferenceBackbone(cfg, threads=threads)
    with tempfile.TemporaryDirectory() as out:
        facts = bb.fit(items, root, Path(out), TrainConfig(max_steps=steps, batch_size=batch, lr=1e-3, save_every=10**9,
                                                           extra={"threads": threads, "augment": augment}))
    return steps / facts["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="best of N, interleaved (the machine may be shared)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cfg = ReferenceConfig(image_size=args.size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        items = make_items(root, 512, args.size)
        old_threads = torch.get_num_threads()
        for threads in (1, 2):
            plain = ref = ref_noaug = 0.0
            for _ in range(args.repeats):
                plain = max(plain, bench_plain(items, root, cfg, args.steps, args.batch, threads))
                ref = max(ref, bench_reference(items, root, cfg, args.steps, args.batch, threads, augment=True))
                ref_noaug = max(ref_noaug, bench_reference(items, root, cfg, args.steps, args.batch, threads, augment=False))
            torch.set_num_threads(old_threads)
            rows.append({"threads": threads, "plain_cnn_steps_s": plain, "reference_steps_s": ref,
                         "reference_noaug_steps_s": ref_noaug, "reference_items_s": ref * args.batch,
                         "ratio_vs_plain": ref / plain, "ratio_noaug_vs_plain": ref_noaug / plain})
    print(f"reference model, {args.size} px, batch {args.batch}, {args.steps} steps, best of {args.repeats}, "
          f"torch {torch.__version__}")
    print(f"{'threads':>7} {'plain st/s':>10} {'ref st/s':>9} {'ref it/s':>9} {'ref/plain':>9} {'noaug/plain':>11}")
    for r in rows:
        print(f"{r['threads']:>7} {r['plain_cnn_steps_s']:>10.1f} {r['reference_steps_s']:>9.1f} {r['reference_items_s']:>9.0f} "
              f"{r['ratio_vs_plain']:>9.2f} {r['ratio_noaug_vs_plain']:>11.2f}")
    if len(rows) == 2:
        print(f"2-thread speed-up of the reference model: {rows[1]['reference_steps_s'] / rows[0]['reference_steps_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "batch": args.batch, "steps": args.steps, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
