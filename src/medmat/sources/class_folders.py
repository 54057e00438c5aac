"""Reader for the commonest raw layout: one folder per label, optionally under split folders.

    root/[train|val|valid|validation|test/]<label>/**/<image>

Hidden files are ignored, anything that is not an image is recorded as a skip, and an
empty class folder is recorded once so a half-downloaded dataset is noticed.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any, Iterable, Iterator

from medmat.mat.vocab import fold
from medmat.records import LabeledRecord, Skip
from medmat.sources._common import (
    _SPLIT_ALIASES, IMAGE_EXTENSIONS, Entry, PathEscapesRoot, ReaderContext, SourceError, has_extension,
    is_hidden, lget, normalize_split, safe_relpath,
)


def _layout_root(ctx: ReaderContext, layout: Any) -> tuple[str, Path]:
    rel = safe_relpath(ctx.data_root, lget(layout, "root", ".") or ".")
    base = ctx.data_root / rel
    if not base.is_dir():
        raise SourceError(f"dataset {ctx.dataset_id}: layout root {base} is not a folder")
    return rel, base


def _split_folders(base: Path, split_dirs: dict[str, str]) -> list[tuple[str | None, str]]:
    """[(split, folder name)], from the layout or detected when every top folder is a split name."""
    if split_dirs:
        out = []
        for split, folder in split_dirs.items():
            try:
                canon = normalize_split(split)
            except KeyError:
                raise SourceError(f"split_dirs key {split!r} is not a split (train/val/test)") from None
            out.append((canon, folder))
        return sorted(out, key=lambda t: t[1])
    tops = sorted(d.name for d in base.iterdir() if d.is_dir() and not is_hidden(d.name))
    if tops and all(fold(t) in _SPLIT_ALIASES for t in tops):
        return [(normalize_split(t), t) for t in tops]
    return [(None, "")]


def _walk_files(folder: Path) -> list[str]:
    """Every non-hidden file under ``folder`` as a sorted POSIX path relative to it."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for name in filenames:
            if not is_hidden(name):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(found)


def iter_folder_entries(
    ctx: ReaderContext, layout: Any, extensions: Iterable[str] = IMAGE_EXTENSIONS
) -> Iterator[Entry | Skip]:
    """The images of a folder-per-label tree as Entries (shared by the DICOM and NIfTI readers)."""
    root_rel, base = _layout_root(ctx, layout)
    extensions = tuple(lget(layout, "extensions", None) or extensions)
    for split, split_folder in _split_folders(base, dict(lget(layout, "split_dirs", {}) or {})):
        split_base = base / split_folder if split_folder else base
        if not split_base.is_dir():
            yield ctx.skip(posixpath.join(root_rel, split_folder), "missing-file", f"split folder for {split!r} is missing")
            continue
        for child in sorted(split_base.iterdir(), key=lambda p: p.name):
            if is_hidden(child.name):
                continue
            child_rel = posixpath.normpath(posixpath.join(root_rel, split_folder, child.name))
            if not child.is_dir():
                yield ctx.skip(child_rel, "no-label", "file is not inside a class folder")
                continue
            files = _walk_files(child)
            if not files:
                yield ctx.skip(child_rel, "empty-class", f"class folder {child.name!r} has no files")
                continue
            for name in files:
                rel = f"{child_rel}/{name}"
                if not has_extension(name, extensions):
                    yield ctx.skip(rel, "not-an-image", f"extension not in {list(extensions)}")
                    continue
                try:
                    rel = safe_relpath(ctx.data_root, rel)
                except PathEscapesRoot as e:
                    yield ctx.skip(rel, "path-escapes-root", str(e))
                    continue
                yield Entry(relpath=rel, raw_labels=(child.name,), split=split, meta={"label_source": "folder"})


def read_class_folders(ctx: ReaderContext, layout: Any) -> Iterator[LabeledRecord | Skip]:
    for entry in iter_folder_entries(ctx, layout):
        yield entry if isinstance(entry, Skip) else ctx.make_records(entry)
