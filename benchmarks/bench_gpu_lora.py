"""LoRA SFT step of a real-size, randomly initialised Qwen2-VL-2B: tokens/s, peak memory, MFU.

No weights are downloaded: the model is built from a config with the published 2B sizes
(text 1536 hidden / 28 layers / 12 heads / 2 KV heads / 8960 MLP / 151936 vocab; vision
32 blocks of 1280) and initialised randomly; speed and memory do not depend on the
values of the weights. Inputs are synthetic: per sample one image of IMAGE x IMAGE pixels
(14 px patches, 2x2 merge -> (IMAGE/28)^2 image tokens) plus text tokens, loss on the
last ANSWER tokens, as medmat's collator produces.

LoRA is placed exactly as medmat places it (family regex: language model attention + MLP,
vision tower frozen). The baseline measured in the same run is a forward pass of the same
batch without gradients; the step/forward ratio is printed next to the absolute figures.
The same run also measures option scoring as medmat's evaluator does it (one forward pass
per batch of questions, logits kept at the last position only: ``logits_to_keep=1``):
``score_questions_per_s``.

    python benchmarks/bench_gpu_lora.py                  # 2B on the GPU (bf16)
    python benchmarks/bench_gpu_lora.py --size tiny      # a seconds-long CPU smoke run

MFU counts the useful matrix FLOPs of a LoRA step: the language model's forward (2 N T)
plus the input-gradient half of its backward (2 N T; frozen weights need no weight
gradients), the frozen vision tower's forward, and attention (4 L S^2 d forward, twice
that backward), divided by the GPU's dense bf16 peak (H100 SXM: 989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import json
import time

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}

SIZES = {
    "2b": dict(
        text=dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                  num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
                  tie_word_embeddings=True),
        vision=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, patch_size=14,
                    spatial_merge_size=2, temporal_patch_size=2),
    ),
    "tiny": dict(
        text=dict(vocab_size=1000, bos_token_id=990, eos_token_id=991, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision=dict(depth=1, embed_dim=32, hidden_size=64, num_heads=2, patch_size=14, spatial_merge_size=2,
                    temporal_patch_size=2),
    ),
}


def build(size: str, device: str, dtype):
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    s = SIZES[size]
    vocab = s["text"]["vocab_size"]
    cfg = Qwen2VLConfig(text_config=dict(s["text"]), vision_config=dict(s["vision"]), image_token_id=vocab - 5,
                        video_token_id=vocab - 4, vision_start_token_id=vocab - 3, vision_end_token_id=vocab - 2,
                        tie_word_embeddings=s["text"].get("tie_word_embeddings", False))
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration(cfg).to(dtype)
    return model, cfg


def batch(cfg, batch_size: int, image: int, text: int, answer: int, device: str, dtype):
    import torch

    g = torch.Generator().manual_seed(0)
    side = image // 14
    n_patch = side * side
    n_img_tok = n_patch // 4
    vocab = cfg.text_config.vocab_size
    rows = []
    for _ in range(batch_size):
        ids = torch.randint(0, vocab - 8, (text,), generator=g)
        rows.append(torch.cat([ids[:8], torch.tensor([cfg.vision_start_token_id]),
                               torch.full((n_img_tok,), cfg.image_token_id), torch.tensor([cfg.vision_end_token_id]),
                               ids[8:]]))
    input_ids = torch.stack(rows).to(device)
    labels = torch.full_like(input_ids, -100)
    labels[:, -answer:] = input_ids[:, -answer:]
    pixel_values = torch.randn(batch_size * n_patch, 3 * 2 * 14 * 14, generator=g).to(device, dtype)
    grid = torch.tensor([[1, side, side]] * batch_size, device=device)
    mm = (input_ids == cfg.image_token_id).long()
    return dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=labels,
                pixel_values=pixel_values, image_grid_thw=grid, mm_token_type_ids=mm), n_patch


def add_lora(model, r: int):
    from peft import LoraConfig, get_peft_model

    from medmat.models.hf.families import FAMILIES

    fam = FAMILIES.get("qwen2-vl")
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0,
                                            target_modules=fam.lora_target_regex(), task_type="CAUSAL_LM"))


def step_flops(cfg, tokens_per_sample: int, batch_size: int, n_patch: int) -> float:
    t, v = cfg.text_config, cfg.vision_config
    h, L = t.hidden_size, t.num_hidden_layers
    kv = h // t.num_attention_heads * t.num_key_value_heads
    lm_params = L * (h * h * 2 + 2 * h * kv + 3 * h * t.intermediate_size) + h * t.vocab_size
    T = tokens_per_sample * batch_size
    lm = 4 * lm_params * T + 3 * 4 * L * tokens_per_sample ** 2 * h * batch_size
    vh = v.embed_dim
    vis_params = v.depth * (4 * vh * vh + 2 * vh * vh * v.mlp_ratio)
    vision = 2 * vis_params * n_patch * batch_size + 4 * v.depth * n_patch ** 2 * vh * batch_size
    return float(lm + vision)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="2b")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image", type=int, default=448, help="image side in pixels (multiple of 28)")
    ap.add_argument("--text", type=int, default=96, help="text tokens per sample")
    ap.add_argument("--answer", type=int, default=2, help="supervised tokens per sample")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--grad-ckpt", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if a.size == "2b" and device == "cpu":
        raise SystemExit("the 2b size needs a GPU; use --size tiny for a CPU smoke run")
    model, cfg = build(a.size, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    inputs, n_patch = batch(cfg, a.batch_size, a.image, a.text, a.answer, device, dtype)
    seq = inputs["input_ids"].shape[1]
    model = add_lora(model, a.lora_r)
    if a.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)

    def fwd_only() -> None:
        with torch.no_grad():
            model(**inputs)

    def train_step() -> None:
        loss = model(**inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed(fn, n: int) -> float:
        for _ in range(a.warmup):
            fn()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync(device)
        return (time.perf_counter() - t0) / n

    model.train()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_step = timed(train_step, a.steps)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    t_fwd = timed(fwd_only, a.steps)
    score_inputs = {k: v for k, v in inputs.items() if k != "labels"}

    def score() -> None:  # HFBackbone.score_options: next-token logits after the prompt only
        with torch.no_grad():
            model(**score_inputs, logits_to_keep=1)

    model.eval()
    t_score = timed(score, a.steps)
    flops = step_flops(cfg, seq, a.batch_size, n_patch)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak_flops = next((v for k, v in PEAK_BF16.items() if k in name), None)
    res = {
        "device": name, "size": a.size, "params": n_params, "trainable_params": sum(p.numel() for p in trainable),
        "batch_size": a.batch_size, "seq_len": seq, "image_tokens": n_patch // 4, "grad_ckpt": a.grad_ckpt,
        "step_s": round(t_step, 4), "forward_s": round(t_fwd, 4), "step_over_forward": round(t_step / t_fwd, 2),
        "tokens_per_s": round(a.batch_size * seq / t_step, 1), "samples_per_s": round(a.batch_size / t_step, 2),
        "score_s": round(t_score, 4), "score_questions_per_s": round(a.batch_size / t_score, 2),
        "peak_mem_gib": round(peak, 2) if peak is not None else None,
        "tflops_per_s": round(flops / t_step / 1e12, 2),
        "mfu": round(flops / t_step / peak_flops, 4) if peak_flops else None,
    }
    print(json.dumps(res, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
