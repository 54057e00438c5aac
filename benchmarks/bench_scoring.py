"""Batched option scoring vs naive per-item generate-and-parse, on one small Qwen2-VL.

Baseline measured in the same run: ``generate`` one item at a time (batch 1, up to
``--max-new-tokens`` tokens) followed by the answer parser, the way many evaluation
scripts do it. Contender: ``score_options`` in batches (one forward pass per batch, the
logits of the option letters at the last position). Both go through medmat.evaluate, so
the timings include everything a real evaluation does (image loading, chat template,
parsing). Batched generation is timed too, for reference.

The model is a random-init Qwen2-VL of a few million parameters (bigger than the test
model so CPU timings mean something), first fitted a few steps on the items so that it
answers with letters and both scorers can be compared for accuracy and agreement.

    .venv/bin/python benchmarks/bench_scoring.py [--items 64] [--hidden 256] [--layers 4]
        [--fit-steps 20] [--batch-size 16] [--threads 2] [--repeats 3] [--json out.json]
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

from medmat.evaluate import evaluate  # noqa: E402
from medmat.models.base import TrainConfig  # noqa: E402
from medmat.records import LETTERS, VQAItem, format_question_choice  # noqa: E402

LABELS = ["Stone", "Cyst", "Normal", "Tumor"]
QUESTIONS = [  # one wording per label: a small random model can memorise them quickly
    "Review this kidney CT scan and determine the possible condition it represents.",
    "What is the most likely finding in this kidney CT image?",
    "Which diagnosis fits this CT slice of the kidney?",
    "Identify the abnormality shown in this renal CT image.",
]


def make_items(root: Path, n: int) -> list[VQAItem]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        label = i % 4
        a = rng.integers(0, 60, size=(56, 56)).astype(np.uint8)
        a[8 + 10 * label: 18 + 10 * label, 10:46] = 230
        rel = f"images/{i:04d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).convert("RGB").save(root / rel)
        options = list(LABELS)  # fixed order: the wording tells the letter, which a small model can learn
        ans = label
        q = QUESTIONS[label]
        items.append(VQAItem(
            id=i, caption=LABELS[label], image=rel, question=q, answer=LABELS[label],
            question_choice=format_question_choice(q, options), answer_choice=LETTERS[ans], data_no="b",
            item_id=f"b{i:04d}", triplet="CT/Kidney/Kidney Disease Classification", subset="b", split="test",
            dataset="bench", source_record=str(i), options=options, answer_index=ans, labels=[LABELS[label]],
        ))
    return items


def build_model(out: Path, hidden: int, layers: int, seed: int) -> Path:
    """A Qwen2-VL like medmat.models.tiny's, scaled up (same tokenizer and processor)."""
    import torch
    import transformers
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from medmat.models.hf.families import FAMILIES
    from medmat.models.hf.processors import without_video
    from medmat.models.tiny import tiny_tokenizer

    specials = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok = tiny_tokenizer(specials, bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>")
    ids = {s: tok.convert_tokens_to_ids(s) for s in specials}
    heads = max(2, hidden // 64)
    half = hidden // heads // 2  # mrope sections must sum to head_dim / 2
    section = [half - 2 * (half // 3), half // 3, half // 3]
    text = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=512,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section})
    vision = dict(depth=2, embed_dim=hidden // 2, hidden_size=hidden, num_heads=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
    cfg = transformers.Qwen2VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2VLForConditionalGeneration(cfg)
    ip = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 56 * 56})
    proc = without_video("Qwen2VLProcessor")(image_processor=ip, tokenizer=tok,
                                             chat_template=FAMILIES.get("qwen2-vl").chat_template)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def _timed(fn):
    t0 = time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--fit-steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    import medmat.models.hf  # noqa: F401  (registers the HF families)
    from medmat.models.base import BACKBONES

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    items = make_items(tmp, args.items)
    bb = BACKBONES.get("qwen2-vl").load(build_model(tmp / "model", args.hidden, args.layers, seed=0))
    n_params = sum(p.numel() for p in bb.model.parameters())
    _, fit_s = _timed(lambda: bb.fit(items, tmp, tmp / "ck", TrainConfig(
        seed=0, max_steps=args.fit_steps, batch_size=16, lr=2e-3, method="full", save_every=10_000,
        extra={"train_lm_head": True, "logging_steps": 10})))
    evaluate(bb, items[:2], tmp, batch_size=2, max_new_tokens=2, n_boot=10)  # warm-up

    def run(scorer: str, batch: int):
        return _timed(lambda: evaluate(bb, items, tmp, scorers=(scorer,), batch_size=batch,
                                       max_new_tokens=args.max_new_tokens, n_boot=200))

    # Interleaved repeats, best time of each: a shared machine's noise only ever adds time.
    best: dict[str, tuple] = {}
    for _ in range(args.repeats):
        for key, scorer, batch in (("opt", "option", args.batch_size), ("naive", "generate", 1),
                                   ("gen_b", "generate", args.batch_size)):
            r, t = run(scorer, batch)
            if key not in best or t < best[key][1]:
                best[key] = (r, t)
    (opt, t_opt), (naive, t_naive), (gen_b, t_gen_b) = best["opt"], best["naive"], best["gen_b"]
    pred_opt = {p.item_id: p.pred for p in opt.predictions}
    agree = sum(pred_opt[p.item_id] == p.pred for p in naive.predictions) / len(items)
    res = {
        "items": len(items), "params": n_params, "fit_steps": args.fit_steps, "fit_seconds": round(fit_s, 2),
        "threads": args.threads, "repeats": args.repeats, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "option_batched_qps": len(items) / t_opt, "generate_naive_qps": len(items) / t_naive,
        "generate_batched_qps": len(items) / t_gen_b, "speedup_vs_naive": t_naive / t_opt,
        "option_accuracy": opt.metrics["overall"]["option"]["accuracy"],
        "generate_naive_accuracy": naive.metrics["overall"]["generate"]["accuracy"],
        "generate_naive_invalid_rate": naive.metrics["overall"]["generate"]["invalid_rate"],
        "generate_batched_accuracy": gen_b.metrics["overall"]["generate"]["accuracy"],
        "agreement_option_vs_naive": agree,
    }
    print(f"Qwen2-VL {n_params / 1e6:.2f}M params, {len(items)} items, {args.threads} threads "
          f"(fitted {args.fit_steps} steps in {fit_s:.1f} s)")
    print(f"  option scoring, batch {args.batch_size:>2}:   {res['option_batched_qps']:7.1f} q/s  "
          f"accuracy {res['option_accuracy']:.3f}")
    print(f"  generate+parse, batch  1:   {res['generate_naive_qps']:7.1f} q/s  "
          f"accuracy {res['generate_naive_accuracy']:.3f}  invalid {res['generate_naive_invalid_rate']:.3f}  (baseline)")
    print(f"  generate+parse, batch {args.batch_size:>2}:   {res['generate_batched_qps']:7.1f} q/s  "
          f"accuracy {res['generate_batched_accuracy']:.3f}")
    print(f"  speed-up option/naive: {res['speedup_vs_naive']:.1f}x   agreement: {agree:.3f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
