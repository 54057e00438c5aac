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
from medmat.runtime import content_key, git_hash, is_main_process, versions
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
    steps: int | None = None
    final_loss: float | None = None
    seconds: float | None = None
    result: dict[str, Any] | None = None  # the backbone's FitResult
    already_complete: bool = Field(False, exclude=True)


def train_key(store_fingerprint: str, train_ids: Sequence[str], model: ModelConfig, config: TrainConfig) -> str:
    """Identity of a training request; equal keys train identical models."""
    return content_key({"store": store_fingerprint, "ids": content_key(sorted(train_ids)),
                        "model": model.model_dump(mode="json"), "train": config.model_dump(mode="json")})


def _lengthless(config: TrainConfig) -> TrainConfig:
    return config.model_copy(update={"max_steps": None, "epochs": 0.0})


def train_arm(manifest_path: str | Path, arm_name: str, model: ModelConfig, config: TrainConfig,
              out_dir: str | Path, callbacks: Sequence[FitCallback] = ()) -> TrainRecord:
    """Train ``arm_name`` of the manifest (a zero-shot arm saves the untrained model)."""
    from medmat.plan import load_manifest

    BACKBONES.get(model.backbone)  # an unknown name fails here, with did-you-mean
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
    items = [by_id[i] for i in arm.train]
    out_dir = Path(out_dir)
    key = train_key(fp, arm.train, model, config)
    compat = train_key(fp, arm.train, model, _lengthless(config))
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
        versions=versions(), git=git_hash(), zero_shot=not items,
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
        result = backbone.fit(items, store.root, out_dir, config, callbacks)
        record = record.model_copy(update={
            "status": "complete", "steps": result.steps, "final_loss": result.final_loss,
            "seconds": round(time.perf_counter() - t0, 3), "result": result.to_dict()})
    if is_main_process():
        write_json(done, record.model_dump(mode="json"))
    return record
