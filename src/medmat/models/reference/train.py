"""The resumable, deterministic training loop of the reference model.

Determinism: data order is a fixed permutation per epoch drawn from (seed, epoch); every
random draw of a step (augmentation) comes from a generator seeded by (seed, step); the
learning rate is a pure function of the step. A checkpoint saves weights, AdamW state and
the loss history, so resuming from step k repeats exactly what an uninterrupted run does
after step k.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from medmat.io import stable_hash, write_json
from medmat.models.base import FitCallback, FitResult, TrainConfig
from medmat.records import VQAItem

from .checkpoint import list_checkpoints, read_checkpoint, write_checkpoint, write_model
from .config import ReferenceConfig, ReferenceTrainExtra
from .encode import encode_items, item_texts
from .images import ImageCache, augment, to_input
from .net import ReferenceNet
from .tokenizer import WordTokenizer, hash_bucket


@dataclass
class ModelState:
    """Everything that makes a reference model: what ``fit`` starts from and returns."""

    config: ReferenceConfig
    tokenizer: WordTokenizer
    net: ReferenceNet


def total_steps(n: int, cfg: TrainConfig) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * n / (cfg.batch_size * cfg.grad_accum)))


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_ratio of the run, then cosine decay to zero."""
    warm = math.ceil(cfg.warmup_ratio * total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * frac))


class Order:
    """Global position -> item index: one permutation per epoch, seeded by (seed, epoch)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self._perms = n, seed, {}

    def take(self, start: int, count: int) -> np.ndarray:
        out = np.empty(count, dtype=np.int64)
        for j in range(count):
            epoch, pos = divmod(start + j, self.n)
            perm = self._perms.get(epoch)
            if perm is None:
                perm = self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            out[j] = perm[pos]
        return out


def learn_vocabulary(model: ModelState, items: Sequence[VQAItem]) -> None:
    """Add the training texts' words to the tokenizer and one embedding row per new word.

    Without hash buckets (n_hash 0) a new word starts from its own random vector, seeded by
    the word (N(0, 1) like a fresh embedding): option words that started equal would leave
    a hard task at its symmetric starting point. With buckets (medmat 0.1) a new row copies
    the bucket the word hashed to, so learning a vocabulary changes nothing until trained.
    """
    added = model.tokenizer.add(WordTokenizer.vocabulary_of(item_texts(items)))
    if not added:
        return
    weights = model.net.words.weight.data
    if model.tokenizer.n_hash > 0:
        rows = weights[torch.tensor([hash_bucket(w, model.tokenizer.n_hash) for w in added], dtype=torch.long)]
    else:
        rows = torch.stack([word_vector(w, weights.shape[1]) for w in added])
    model.net.grow_vocab(rows)


def word_vector(word: str, dim: int) -> torch.Tensor:
    """A fixed N(0, 1) vector for ``word`` (seeded by its sha256: the same on every machine)."""
    gen = torch.Generator().manual_seed(int(stable_hash("word", word), 16))
    return torch.randn(dim, generator=gen)


def make_optimizer(net: ReferenceNet, cfg: TrainConfig, state: dict | None = None) -> torch.optim.AdamW:
    """AdamW with weight decay on conv/linear weights only (not embeddings, norms, biases)."""
    decay = [p for n, p in net.named_parameters() if p.ndim >= 2 and not n.startswith("words")]
    rest = [p for n, p in net.named_parameters() if not (p.ndim >= 2 and not n.startswith("words"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr)
    if state is not None:
        opt.load_state_dict(state)
    return opt


def resume(ck_root: Path, fingerprint: str, out_dir: Path) -> tuple[ModelState, dict, dict] | None:
    """(model, optimizer state, trainer state) of the newest checkpoint under ``ck_root``, or
    None; a checkpoint of another run (fingerprint) is an error, never silently continued."""
    ckpts = list_checkpoints(ck_root)
    if not ckpts:
        return None
    m_cfg, tok, state, optim_state, tstate = read_checkpoint(ckpts[-1])
    if tstate.get("fingerprint") != fingerprint:
        raise ValueError(f"{out_dir} holds checkpoints of a different run (other items, settings or starting "
                         "model); use a fresh out_dir or delete its checkpoints/")
    net = ReferenceNet(m_cfg, len(tok))
    net.load_state_dict(state, strict=True)
    return ModelState(m_cfg, tok, net), optim_state, tstate


def training_inputs(model: ModelState, items: Sequence[VQAItem], store_root: Path) -> tuple:
    """Encoded texts, the decoded image cache and each item's row in it."""
    enc = encode_items(items, model.tokenizer)
    cache = ImageCache(items, store_root, model.config.image_size, model.config.color)
    return enc, cache, torch.tensor(cache.rows(items), dtype=torch.long)


def batch_images(pixels: torch.Tensor, geo: dict, gen: torch.Generator, extra: ReferenceTrainExtra
                 ) -> tuple[torch.Tensor, dict]:
    """A training batch's images (augmented when asked) and its box arguments, the boxes
    moved with the images; with no box item the draws and pixels are those of before."""
    if not extra.augment:
        return to_input(pixels), geo
    if not geo:
        return augment(pixels, gen, extra.hflip, extra.noise), geo
    x, boxes = augment(pixels, gen, extra.hflip, extra.noise, boxes=geo["boxes"])
    return x, {**geo, "boxes": boxes}


def run_fingerprint(items: Sequence[VQAItem], cfg: TrainConfig, model_cfg: dict) -> str:
    """What a checkpoint must match to be resumed: the training set, settings and model."""
    rows = sorted((it.item_id, it.image, it.question, tuple(it.options), it.answer_index)
                  + ((it.kind, tuple(map(tuple, it.option_boxes))) if it.kind != "choice" else ()) for it in items)
    return stable_hash(rows, cfg.model_dump(mode="json"), model_cfg, n=32)


def fit(model: ModelState, items: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
        callbacks: Sequence[FitCallback] = ()) -> tuple[ModelState, FitResult]:
    """Train ``model`` (or resume the matching run checkpointed in ``out_dir``), save the
    result to ``out_dir`` and return it with the facts of the run."""
    if not items:
        raise ValueError("fit needs at least one training item")
    extra = ReferenceTrainExtra.model_validate(cfg.extra)
    out_dir = Path(out_dir)
    ck_root = out_dir / "checkpoints"
    fingerprint = run_fingerprint(items, cfg, model.config.model_dump(mode="json"))
    total = total_steps(len(items), cfg)

    start_step, losses = 0, []
    optim_state = None
    resumed = resume(ck_root, fingerprint, out_dir)
    if resumed is not None:
        model, optim_state, tstate = resumed
        start_step, losses = int(tstate["step"]), list(tstate["losses"])
    else:
        learn_vocabulary(model, items)

    net = model.net
    enc, cache, rows = training_inputs(model, items, store_root)
    opt = make_optimizer(net, cfg, optim_state)
    order = Order(len(items), cfg.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    net.train()
    for step in range(start_step, total):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, cfg)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            idx = torch.from_numpy(order.take((step * cfg.grad_accum + micro) * cfg.batch_size, cfg.batch_size))
            x, geo = batch_images(cache.pixels[rows[idx]], enc.geometry(idx), gen, extra)
            q, o, m, y = enc.take(idx)
            loss = F.cross_entropy(net(x, q, o, m, **geo), y) / cfg.grad_accum
            loss.backward()
            step_loss += float(loss.detach())
        if extra.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), extra.grad_clip)
        opt.step()
        losses.append(round(step_loss, 6))
        done = step + 1
        for cb in callbacks:
            cb.on_step(done, total, step_loss)
        if done % cfg.save_every == 0 and done < total:
            write_checkpoint(ck_root, done, model.config, model.tokenizer, net.state_dict(), opt.state_dict(),
                             {"step": done, "total": total, "losses": losses, "fingerprint": fingerprint},
                             extra.keep_checkpoints)
    net.eval()
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    trained = total - start_step
    logged = [[i + 1, v] for i, v in enumerate(losses)]
    result = FitResult(
        steps=total, total_steps=total, n_train=len(items), seconds=round(seconds, 3),
        resumed_from=start_step or None, first_loss=losses[0] if losses else None,
        final_loss=FitResult.tail_mean(logged), losses=logged,
        items_per_s=round(trained * cfg.batch_size * cfg.grad_accum / seconds, 1) if seconds > 0 and trained else None,
        details={"n_images": int(cache.pixels.shape[0]), "cpu_seconds": round(cpu_seconds, 3),
                 "threads": torch.get_num_threads(), "fingerprint": fingerprint},
    )
    write_model(out_dir, model.config, model.tokenizer, net.state_dict())
    write_checkpoint(ck_root, total, model.config, model.tokenizer, net.state_dict(), opt.state_dict(),
                     {"step": total, "total": total, "losses": losses, "fingerprint": fingerprint}, extra.keep_checkpoints)
    timeless = {"steps": total, "resumed_from": start_step, "n_train": len(items), "n_images": int(cache.pixels.shape[0]),
                "first_loss": result.first_loss, "final_loss": result.final_loss, "fingerprint": fingerprint}
    write_json(out_dir / "train_facts.json", timeless | {"losses": losses})  # deterministic bytes
    return model, result
