"""Train one arm of a manifest with any registered backbone (what ``medmat train`` runs).

The manifest fully determines the data (arm.train item ids in the store it names); the
train spec determines the optimisation. The result folder holds the backbone's own
files and ``train.json``: config, seeds, steps, loss, seconds, versions. Rerunning the
same command resumes an interrupted run (the backbone's ``fit`` continues from its last
checkpoint) and returns at once when the run is complete.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from medmat.io import read_json, sha256_file, stable_hash, write_json
from medmat.models.base import BACKBONES, Backbone
from medmat.store import VQAStore
from medmat.train.config import TrainSpec

TRAIN_JSON = "train.json"


class TrainError(ValueError):
    pass


def is_main_process() -> bool:
    """Only one process of an `accelerate launch` run writes train.json."""
    return int(os.environ.get("RANK", "0")) == 0


def ensure_backbones() -> list[str]:
    """Every registered backbone name (see medmat.models.discover_backbones)."""
    from medmat.models import discover_backbones

    return discover_backbones().names()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("medmat", "torch", "transformers", "peft", "trl", "accelerate", "datasets"):
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            continue
    return out


def git_hash() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                           cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def request_key(manifest_sha: str, arm: str, backbone: str, model: str | None, spec: TrainSpec) -> str:
    """Identity of a training request: a rerun with the same key may resume or reuse it."""
    return stable_hash(manifest_sha, arm, backbone, model or "", spec.model_dump_json())


def train_arm(manifest_path: Path, arm_name: str, backbone_name: str, out_dir: Path, spec: TrainSpec,
              model_path: Path | None = None, on_step: Callable[[int, int, float | None], None] | None = None,
              ) -> dict[str, Any]:
    """Train ``arm_name`` of the manifest with ``backbone_name``; write ``out_dir/train.json``."""
    from medmat.plan import load_manifest

    ensure_backbones()
    manifest = load_manifest(manifest_path)
    arm = manifest.arm(arm_name)
    store = VQAStore(manifest.store_path(manifest_path))
    fp = store.fingerprint()
    if manifest.store_fingerprint and manifest.store_fingerprint != fp:
        raise TrainError(f"the store at {store.root} changed since the manifest was planned "
                         f"(items.jsonl sha256 {fp[:12]}, manifest says {manifest.store_fingerprint[:12]}); re-plan")
    by_id = store.by_id()
    missing = [i for i in arm.train if i not in by_id]
    if missing:
        raise TrainError(f"arm {arm_name!r}: {len(missing)} train item ids are not in the store "
                         f"(first: {', '.join(missing[:3])})")
    items = [by_id[i] for i in arm.train]
    out_dir = Path(out_dir)
    key = request_key(sha256_file(manifest_path), arm_name, backbone_name,
                      str(model_path) if model_path else None, spec)
    # Runs that differ only in length may continue each other; anything else may not.
    lengthless = spec.model_copy(update={"config": spec.config.model_copy(update={"max_steps": None, "epochs": 0})})
    compat = request_key(sha256_file(manifest_path), arm_name, backbone_name,
                         str(model_path) if model_path else None, lengthless)
    done = out_dir / TRAIN_JSON
    if done.is_file():
        prev = read_json(done)
        if prev.get("request") == key and prev.get("status") == "complete":
            return {**prev, "already_complete": True}
        if prev.get("compat") not in (None, compat) and any((out_dir / "checkpoints").glob("checkpoint-*")):
            raise TrainError(f"{out_dir} holds checkpoints of a different run (other manifest, arm, model or "
                             "settings); use another --out or delete it")
    cls = BACKBONES.get(backbone_name)
    backbone: Backbone = cls.load(model_path, **spec.load_options)
    if on_step is not None and hasattr(backbone, "on_step"):
        backbone.on_step = on_step  # type: ignore[attr-defined]
    record: dict[str, Any] = {
        "status": "running", "request": key, "compat": compat, "manifest": str(manifest_path), "arm": arm_name, "out_dir": str(out_dir),
        "arm_kind": arm.kind, "backbone": backbone_name, "model": str(model_path) if model_path else None,
        "n_train": len(items), "config": spec.config.model_dump(), "load_options": spec.load_options,
        "seed": spec.config.seed, "manifest_seed": manifest.seed, "store_fingerprint": fp,
        "versions": versions(), "git": git_hash(),
    }
    if is_main_process():
        write_json(done, record)
    t0 = time.perf_counter()
    if not items:
        out_dir.mkdir(parents=True, exist_ok=True)
        if is_main_process():
            backbone.save(out_dir)
        facts: dict[str, Any] = {"steps": 0, "loss": None, "zero_shot": True,
                                 "note": "no training items (zero-shot arm): the untrained model was saved"}
    else:
        facts = backbone.fit(items, store.root, out_dir, spec.config)
    loss = facts.get("loss", facts.get("final_loss"))  # backbones name their last loss either way
    record.update(status="complete", steps=facts.get("steps"), loss=loss,
                  seconds=round(time.perf_counter() - t0, 3), facts=facts)
    if is_main_process():
        write_json(done, record)
    return record
