"""The train stage's one operation, :func:`train_arm` (``medmat train`` and ``medmat run``).

The manifest fully determines the data (the arm's train item ids in the store it names);
the :class:`TrainConfig` determines the optimisation and the :class:`ModelConfig` the
model. The result folder holds the backbone's own files and ``train.json`` (a
:class:`TrainRecord`). A training request is identified by its content (store, item ids,
model, settings), not by file or arm names: rerunning it resumes an interrupted run (the
backbone's ``fit`` continues from its last checkpoint) and returns at once when complete,
and two arms with the same training set may share one folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field

from medmat.io import read_json, write_json
from medmat.models import BACKBONES, open_backbone
from medmat.models.base import FitCallback, ModelConfig, TrainConfig
from medmat.plan.controls import apply_transform
from medmat.runtime import (LaunchError, barrier, check_devices, content_key, git_hash, is_main_process, versions,
                            world_size)
from medmat.store import VQAStore

TRAIN_JSON = "train.json"


class TrainError(ValueError):
    pass


class TrainRecord(BaseModel):
    """``train.json``: what was trained, how, and what came of it."""

    model_config = ConfigDict(extra="forbid")
    status: str  # running | complete
    request: str  # content key of the request: same key, same model
    compat: str  # the key without the run length: runs that may continue each other
    manifest: str
    arm: str
    arm_kind: str
    out_dir: str
    backbone: str
    model: str | None
    model_options: dict[str, Any] = Field(default_factory=dict)
    config: TrainConfig
    n_train: int
    store_fingerprint: str
    manifest_seed: int
    versions: dict[str, str] = Field(default_factory=dict)
    git: str | None = None
    zero_shot: bool = False
    transform: dict[str, Any] | None = None  # control arms: what was done to the items
    steps: int | None = None
    final_loss: float | None = None
    seconds: float | None = None
    result: dict[str, Any] | None = None  # the backbone's FitResult
    already_complete: bool = Field(False, exclude=True)


def train_key(store_fingerprint: str, train_ids: Sequence[str], model: ModelConfig, config: TrainConfig,
              transform: dict[str, Any] | None = None) -> str:
    """Identity of a training request; equal keys train identical models. ``transform``
    (control arms: name, seed, target subset) changes the items, so it is part of it."""
    key = {"store": store_fingerprint, "ids": content_key(sorted(train_ids)),
           "model": model.model_dump(mode="json"), "train": config.model_dump(mode="json")}
    if transform:
        key["transform"] = transform
    return content_key(key)


def arm_transform(arm: Any, target_subset: str) -> dict[str, Any] | None:
    """What a control arm does to its items (None for every other arm)."""
    if arm.transform is None:
        return None
    return {"name": arm.transform, "seed": arm.seed, "target_subset": target_subset}


def _lengthless(config: TrainConfig) -> TrainConfig:
    return config.model_copy(update={"max_steps": None, "epochs": 0.0})


def _fit(backbone: Any, items: list, store_root: Path, out_dir: Path, config: TrainConfig,
         callbacks: Sequence[FitCallback]) -> Any:
    """``backbone.fit``; a backbone that does not train data-parallel (the CPU reference
    model) trains on rank 0 alone under a launch while the other ranks wait for it."""
    if type(backbone).data_parallel or world_size() == 1:
        return backbone.fit(items, store_root, out_dir, config, callbacks)
    result = backbone.fit(items, store_root, out_dir, config, callbacks) if is_main_process() else None
    barrier("training on rank 0")
    return result if result is not None else _placeholder_result(out_dir)


def _placeholder_result(out_dir: Path) -> Any:
    """What a waiting rank returns: it writes nothing, so its record is never saved."""
    from medmat.models.base import FitResult

    return FitResult(steps=0, total_steps=0, n_train=0, seconds=0.0, details={"trained_on_rank": 0})


def train_arm(manifest_path: str | Path, arm_name: str, model: ModelConfig, config: TrainConfig,
              out_dir: str | Path, callbacks: Sequence[FitCallback] = ()) -> TrainRecord:
    """Train ``arm_name`` of the manifest (a zero-shot arm saves the untrained model)."""
    from medmat.plan import load_manifest

    BACKBONES.get(model.backbone)  # an unknown name fails here, with did-you-mean
    try:
        check_devices()  # under a launch: no more processes than GPUs, said on every rank
    except LaunchError as e:
        raise TrainError(str(e)) from None
    manifest_path = Path(manifest_path)
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
    transform = arm_transform(arm, manifest.target_subset)
    target_labels = list(store.subsets()[manifest.target_subset].labels) if transform else []
    items = apply_transform(arm.transform, [by_id[i] for i in arm.train], target_labels, arm.seed)
    out_dir = Path(out_dir)
    key = train_key(fp, arm.train, model, config, transform)
    compat = train_key(fp, arm.train, model, _lengthless(config), transform)
    done = out_dir / TRAIN_JSON
    if done.is_file():
        prev = read_json(done)
        if prev.get("request") == key and prev.get("status") == "complete":
            return TrainRecord.model_validate(prev).model_copy(update={"already_complete": True})
        if prev.get("compat") not in (None, compat) and any((out_dir / "checkpoints").glob("*")):
            raise TrainError(f"{out_dir} holds checkpoints of a different run (other store, items, model or "
                             "settings); use another --out or delete it")
    backbone = open_backbone(model, seed=config.seed)
    record = TrainRecord(
        status="running", request=key, compat=compat, manifest=str(manifest_path), arm=arm_name, arm_kind=arm.kind,
        out_dir=str(out_dir), backbone=model.backbone, model=model.path, model_options=dict(model.options),
        config=config, n_train=len(items), store_fingerprint=fp, manifest_seed=manifest.seed,
        versions=versions(), git=git_hash(), zero_shot=not items, transform=transform,
    )
    if is_main_process():
        write_json(done, record.model_dump(mode="json"))
    t0 = time.perf_counter()
    if not items:
        out_dir.mkdir(parents=True, exist_ok=True)
        if is_main_process():
            backbone.save(out_dir)
        record = record.model_copy(update={"status": "complete", "steps": 0,
                                           "seconds": round(time.perf_counter() - t0, 3)})
    else:
        result = _fit(backbone, items, store.root, out_dir, config, callbacks)
        record = record.model_copy(update={
            "status": "complete", "steps": result.steps, "final_loss": result.final_loss,
            "seconds": round(time.perf_counter() - t0, 3), "result": result.to_dict()})
    if is_main_process():
        write_json(done, record.model_dump(mode="json"))
    return record
