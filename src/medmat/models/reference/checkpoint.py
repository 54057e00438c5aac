"""On-disk format of the reference model and of its resumable training checkpoints.

A model folder holds ``config.json`` (ReferenceConfig), ``tokenizer.json`` (vocabulary)
and ``model.safetensors`` (weights). A checkpoint folder is a model folder plus
``optimizer.pt`` and ``trainer_state.json``; it is written under a temporary name and
renamed into place, so a crash leaves either a complete checkpoint or none.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from medmat.io import read_json, write_bytes, write_json

from .config import ReferenceConfig
from .tokenizer import WordTokenizer

FILES = ("config.json", "tokenizer.json", "model.safetensors")
_STEP_DIR = re.compile(r"^step-(\d{7})$")


def write_model(folder: Path, cfg: ReferenceConfig, tok: WordTokenizer, state: dict[str, torch.Tensor]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", {"backbone": "reference", **cfg.model_dump(mode="json")})
    write_json(folder / "tokenizer.json", tok.to_dict())
    tensors = {k: v.detach().contiguous().clone() for k, v in sorted(state.items())}
    write_bytes(folder / "model.safetensors", st_save(tensors))


def read_model(folder: Path) -> tuple[ReferenceConfig, WordTokenizer, dict[str, torch.Tensor]]:
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a reference-model folder (missing {', '.join(missing)})")
    raw = dict(read_json(folder / "config.json"))
    if raw.pop("backbone", "reference") != "reference":
        raise ValueError(f"{folder}/config.json belongs to another backbone")
    cfg = ReferenceConfig.model_validate(raw)
    tok = WordTokenizer.from_dict(read_json(folder / "tokenizer.json"))
    state = st_load((folder / "model.safetensors").read_bytes())
    return cfg, tok, state


def write_checkpoint(root: Path, step: int, cfg: ReferenceConfig, tok: WordTokenizer, model_state: dict,
                     optim_state: dict, trainer_state: dict[str, Any], keep: int) -> Path:
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    write_model(tmp, cfg, tok, model_state)
    buf = io.BytesIO()
    torch.save(optim_state, buf)
    write_bytes(tmp / "optimizer.pt", buf.getvalue())
    write_json(tmp / "trainer_state.json", trainer_state)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name) and (p / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def read_checkpoint(folder: Path) -> tuple[ReferenceConfig, WordTokenizer, dict, dict, dict[str, Any]]:
    cfg, tok, state = read_model(folder)
    optim = torch.load(io.BytesIO((folder / "optimizer.pt").read_bytes()), weights_only=True)
    return cfg, tok, state, optim, read_json(folder / "trainer_state.json")
