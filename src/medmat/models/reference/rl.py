"""Reinforcement learning of the reference model (``TrainConfig.method = "grpo"``).

The reference model's policy is its distribution over an item's options (softmax of the
option logits at ``temperature``). A step draws ``P = batch_size x grad_accum /
num_generations`` items; for each it samples ``num_generations`` options (the group),
scores each with the run's rewards (``models/rewards.py``; the completion judged is the
sampled letter, the answer the model would write), and turns rewards into group-relative
advantages ``(r - mean_group) / (std_group + 1e-4)``. The loss is the policy gradient
``-mean(advantage x log pi(option))`` plus ``beta x KL(pi || pi_start)``, the exact KL over
the options to the model the run started from. Every sample is used once (on-policy), so
GRPO's clipped ratio is 1 and drops out: this is GRPO with ``num_iterations = 1``.

Determinism and resume follow the SFT loop (``train.py``): item order, augmentation and
sampling draw from generators seeded by (seed, epoch) and (seed, step), the learning rate
is a function of the step, and a checkpoint holds weights, optimizer state and the loss
and reward history, so a resumed run repeats what an uninterrupted one does. A run
resumes only onto checkpoints of the same items, settings and starting weights.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from pathlib import Path
from typing import Sequence

import torch

from medmat.io import write_json
from medmat.models.base import FitCallback, FitResult, TrainConfig
from medmat.models.rewards import RLSettings, ZeroRewardWatch, prompts_per_step
from medmat.records import LETTERS, VQAItem

from .checkpoint import write_checkpoint, write_model
from .config import ReferenceTrainExtra
from .train import (ModelState, Order, batch_images, learn_vocabulary, lr_at, make_optimizer, resume,
                    run_fingerprint, training_inputs)


class ReferenceRLExtra(ReferenceTrainExtra, RLSettings):
    """``TrainConfig.extra`` of ``method: grpo`` on the reference model: its training settings
    (``ReferenceTrainExtra``) and the RL settings (``RLSettings``)."""


def weights_key(net: torch.nn.Module) -> str:
    """sha256 of the weights: a resumed run must start from the same model."""
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def rl_total_steps(n: int, cfg: TrainConfig, group: int) -> int:
    """Optimizer steps: ``max_steps``, else ``epochs`` passes with each item sampled ``group`` times."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * n * group / (cfg.batch_size * cfg.grad_accum)))


def _group_advantages(total: torch.Tensor) -> torch.Tensor:
    """[P, G] rewards -> advantages relative to each group (row)."""
    return (total - total.mean(dim=1, keepdim=True)) / (total.std(dim=1, keepdim=True) + 1e-4)


def fit_rl(model: ModelState, items: Sequence[VQAItem], store_root: Path, out_dir: Path, cfg: TrainConfig,
           callbacks: Sequence[FitCallback] = ()) -> tuple[ModelState, FitResult]:
    """Train ``model`` by group-relative policy gradient (or resume the matching run in
    ``out_dir``), save the result to ``out_dir`` and return it with the facts of the run."""
    if not items:
        raise ValueError("fit needs at least one training item")
    extra = ReferenceRLExtra.model_validate(cfg.extra)
    group = extra.num_generations
    n_prompts = prompts_per_step(cfg.batch_size * cfg.grad_accum, group)
    fns = extra.reward_fns()
    names = [name for name, _, _ in fns]
    weights = torch.tensor([w for _, _, w in fns])
    out_dir = Path(out_dir)
    ck_root = out_dir / "checkpoints"
    fingerprint = run_fingerprint(items, cfg, {**model.config.model_dump(mode="json"), "start": weights_key(model.net)})
    total = rl_total_steps(len(items), cfg, group)

    # The starting model with the training vocabulary (as the SFT loop learns it): the KL reference.
    learn_vocabulary(model, items)
    start_step, losses, optim_state = 0, [], None
    history: dict = {"total": [], "kl": [], "by_reward": {n: [] for n in names}}  # [[step, mean], ...]
    ref = copy.deepcopy(model.net).eval().requires_grad_(False) if extra.beta > 0 else None
    resumed = resume(ck_root, fingerprint, out_dir)
    if resumed is not None:
        model, optim_state, tstate = resumed
        start_step, losses, history = int(tstate["step"]), list(tstate["losses"]), dict(tstate["rewards"])

    net = model.net
    enc, cache, rows = training_inputs(model, items, store_root)
    opt = make_optimizer(net, cfg, optim_state)
    order = Order(len(items), cfg.seed)
    watch = ZeroRewardWatch(extra, start=start_step)

    def save_checkpoint(done: int) -> None:
        write_checkpoint(ck_root, done, model.config, model.tokenizer, net.state_dict(), opt.state_dict(),
                         {"step": done, "total": total, "losses": losses, "rewards": history,
                          "fingerprint": fingerprint}, extra.keep_checkpoints)

    t0, c0 = time.perf_counter(), time.process_time()
    net.train()
    for step in range(start_step, total):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, cfg)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = torch.from_numpy(order.take(step * n_prompts, n_prompts))
        x, geo = batch_images(cache.pixels[rows[idx]], enc.geometry(idx), gen, extra)
        q, o, m, _ = enc.take(idx)
        logp = torch.log_softmax(net(x, q, o, m, **geo) / extra.temperature, dim=-1)  # [P, K]
        picks = torch.multinomial(logp.detach().exp(), group, replacement=True, generator=gen)  # [P, G]
        per_fn = torch.tensor([[[fn(LETTERS[k], items[i]) for _, fn, _ in fns] for k in row]
                               for i, row in zip(idx.tolist(), picks.tolist())])  # [P, G, R]
        reward = (per_fn * weights).sum(-1)
        loss = -(_group_advantages(reward) * logp.gather(1, picks)).mean()
        kl = None
        if ref is not None:
            with torch.no_grad():
                ref_logp = torch.log_softmax(ref(x, q, o, m, **geo) / extra.temperature, dim=-1)
            diff = torch.where(m, logp - ref_logp, torch.zeros_like(logp))  # masked options: -inf - -inf
            kl = (logp.exp() * diff).sum(-1).mean()
            loss = loss + extra.beta * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if extra.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), extra.grad_clip)
        opt.step()
        done = step + 1
        losses.append(round(float(loss.detach()), 6))
        means = dict(zip(names, per_fn.mean(dim=(0, 1)).tolist()))
        history["total"].append([done, round(float(reward.mean()), 6)])
        for name, v in means.items():
            history["by_reward"][name].append([done, round(v, 6)])
        if kl is not None:
            history["kl"].append([done, round(float(kl.detach()), 6)])
        for cb in callbacks:
            cb.on_step(done, total, losses[-1])
        watch.update(done, means)
        if done % cfg.save_every == 0 and done < total:
            save_checkpoint(done)
    net.eval()
    seconds = time.perf_counter() - t0
    trained = total - start_step
    logged = [[i + 1, v] for i, v in enumerate(losses)]
    details = {"method": cfg.method, "num_generations": group, "beta": extra.beta, "prompts_per_step": n_prompts,
               "rewards": history["total"], "reward_curves": history["by_reward"],
               **({"kl": history["kl"]} if ref is not None else {}),
               "n_images": int(cache.pixels.shape[0]), "cpu_seconds": round(time.process_time() - c0, 3),
               "fingerprint": fingerprint}
    result = FitResult(
        steps=total, total_steps=total, n_train=len(items), seconds=round(seconds, 3),
        resumed_from=start_step or None, first_loss=losses[0] if losses else None,
        final_loss=FitResult.tail_mean(logged), losses=logged,
        items_per_s=round(trained * n_prompts / seconds, 1) if seconds > 0 and trained else None, details=details,
    )
    write_model(out_dir, model.config, model.tokenizer, net.state_dict())
    save_checkpoint(total)
    write_json(out_dir / "train_facts.json", {  # deterministic bytes (no timings)
        "steps": total, "resumed_from": start_step, "n_train": len(items), "losses": losses, "rewards": history,
        "fingerprint": fingerprint})
    return model, result
