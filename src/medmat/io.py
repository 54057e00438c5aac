"""Atomic file writes, JSON/JSONL helpers and safe relative paths.

Every file medmat writes goes through a temporary file in the same folder followed by
``os.replace``, so an interrupted run leaves either the old file or the new one, never a
half-written one. Every path medmat reads from untrusted input (raw tables, json files)
goes through :func:`safe_relpath`, so it stays inside its data root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import posixpath
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": "\n"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb", encoding=None) as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def dumps(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no NaN surprises, UTF-8 kept)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_open(path, "w") as fh:
        for row in rows:
            fh.write(dumps(row))
            fh.write("\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> Iterator[Any]:
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: malformed JSON line: {e.msg}") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(*parts: Any, n: int = 16) -> str:
    """A short deterministic hex id of the given parts (used for record and item ids)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:n]


class PathEscapesRoot(ValueError):
    """A path that would leave the data root ('..', absolute, symlink pointing outside)."""


def safe_relpath(root: str | os.PathLike, path: str | os.PathLike) -> str:
    """``path`` (relative to ``root``) as a normalised POSIX path that stays inside ``root``.

    Raw tables and json files are untrusted input: one ``../../etc/passwd`` or a symlink
    to elsewhere must not make medmat read (and later redistribute) files outside the
    dataset. Raises :class:`PathEscapesRoot`; readers turn it into Skip('path-escapes-root').
    """
    raw = os.fspath(path).replace("\\", "/")
    if not raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise PathEscapesRoot(f"{raw!r} is absolute or empty; paths must be relative to the data root")
    rel = posixpath.normpath(raw)
    if rel == ".." or rel.startswith("../"):
        raise PathEscapesRoot(f"{raw!r} leaves the data root")
    root_real = Path(root).resolve()
    target = (root_real / rel).resolve()
    if target != root_real and root_real not in target.parents:
        raise PathEscapesRoot(f"{raw!r} resolves outside the data root (symlink?) to {target}")
    return rel


def slug(text: str) -> str:
    """A lower-case, file-system-safe name: runs of anything but a-z and 0-9 become '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
