"""What every exporter shares: item selection, image references, the registry.

Image paths in the json/jsonl formats: by default the **absolute** path of the image in
the store (every tool accepts it: LLaVA joins it to ``--image_folder``, which leaves an
absolute path as is; LLaMA-Factory, ms-swift and TRL open it directly). With
``copy_images`` the images are copied into ``OUT/images/..`` and referenced **relative
to the export folder**, which is what LLaVA's ``--image_folder OUT``, LLaMA-Factory's
``dataset_dir``/``media_dir`` and ms-swift's ``ROOT_IMAGE_DIR=OUT`` expect (TRL/``datasets``
open them from the working directory); the export folder is then self-contained and
relocatable. Parquet, VLMEvalKit and lmms-eval embed the image bytes. docs/exports.md has
each tool's commands.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from medmat.export.config import ExportConfig
from medmat.registry import Registry
from medmat.records import VQAItem
from medmat.store import VQAStore


@dataclass
class ExportContext:
    """One export run: the store, the folder, the config, and what it wrote.

    ``notes`` are the lines a user runs next (the tool's command, an env variable to
    set); the CLI prints them and ``--json`` returns them.
    """

    store: VQAStore
    out_dir: Path
    options: ExportConfig
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _copied: set[str] = field(default_factory=set)
    _selected: dict[str, list[VQAItem]] | None = None

    def selected(self) -> dict[str, list[VQAItem]]:
        """split -> items (store order), only the splits asked for and present."""
        if self._selected is None:
            self._selected = self._select()
        return self._selected

    def _select(self) -> dict[str, list[VQAItem]]:
        subsets = self.options.subsets
        known = set(self.store.subsets())
        if subsets:
            unknown = sorted(set(subsets) - known)
            if unknown:
                raise ValueError(f"subsets not in the store: {unknown} (store has {sorted(known)})")
        out: dict[str, list[VQAItem]] = {}
        for it in self.store.items():
            if subsets and it.subset not in subsets:
                continue
            if self.options.split != "all" and it.split != self.options.split:
                continue
            out.setdefault(it.split, []).append(it)
        if self.options.capped and "train" in out:
            cap, seed = self.store.meta.get("cap"), int(self.store.meta.get("seed", 0))
            keep = {it.item_id for sid in sorted({i.subset for i in out["train"]})
                    for it in self.store.capped_train(sid, cap, seed)}
            out["train"] = [it for it in out["train"] if it.item_id in keep]
        if not out:
            raise ValueError(f"no items for split={self.options.split} subsets={list(subsets or [])}")
        return dict(sorted(out.items()))

    def only_with_options(self, fmt: str) -> None:
        """Keep only items with options (drop grounding items) for a multiple-choice-only
        format, and say how many were left out; an empty result is an error."""
        sel = self.selected()
        kept = {s: [it for it in items if it.options] for s, items in sel.items()}
        dropped = sum(len(v) for v in sel.values()) - sum(len(v) for v in kept.values())
        if not dropped:
            return
        kept = {s: v for s, v in kept.items() if v}
        if not kept:
            raise ValueError(f"{fmt} asks multiple-choice questions and the selection holds only grounding items "
                             "(export them with trl, llava, sharegpt, swift, parquet or medmat)")
        self._selected = kept
        self.note(f"{dropped} grounding item(s) left out: {fmt} asks multiple-choice questions only")

    def image_ref(self, item: VQAItem) -> str:
        """The path to write for ``item``'s image (see module docstring)."""
        src = self.store.image_path(item)
        if not self.options.copy_images:
            return str(src.resolve())
        if item.image not in self._copied:
            dst = self.out_dir / item.image
            if not (dst.is_file() and dst.stat().st_size == src.stat().st_size):
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f".{dst.name}.tmp")
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            self._copied.add(item.image)
        return item.image

    def image_bytes(self, item: VQAItem) -> bytes:
        return self.store.image_path(item).read_bytes()

    def add(self, path: Path) -> None:
        self.files.append(path)

    def note(self, line: str) -> None:
        self.notes.append(line)


Exporter = Callable[[ExportContext], None]
EXPORTERS: Registry[Exporter] = Registry("export format")


def run_export(store: str | Path | VQAStore, fmt: str, out_dir: str | Path,
               options: ExportConfig | None = None) -> ExportContext:
    """Export a store in format ``fmt``: the export stage's one operation (the CLI calls it).

    Returns the context: ``files`` written (not the copied images) and ``notes`` (what to
    run next). The built-in formats are registered by ``medmat.export`` (the package),
    which Python imports before this module, so ``EXPORTERS`` is complete by then.
    """
    exporter = EXPORTERS.get(fmt)
    st = store if isinstance(store, VQAStore) else VQAStore(store)
    ctx = ExportContext(st, Path(out_dir), options or ExportConfig())
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    exporter(ctx)
    return ctx


def export_store(store: str | Path | VQAStore, fmt: str, out_dir: str | Path,
                 options: ExportConfig | None = None) -> list[Path]:
    """:func:`run_export`, returning only the files written."""
    return run_export(store, fmt, out_dir, options).files
