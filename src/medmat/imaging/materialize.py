"""Materialisation: raw images of any format -> content-addressed 8-bit PNG/JPEG in the store.

Every record's image is loaded once, flattened to 8-bit L/RGB, resized if asked, encoded
and named by the sha256 of the encoded bytes (``images/<h[:2]>/<h>.<ext>``): identical
images are stored once and leakage checks can compare hashes. Work is spread over guarded
worker processes (``medmat.imaging.workers``) under per-file limits
(``medmat.imaging.limits``): a file that takes too long, needs too much memory or kills
its worker is a skip naming the limit, never a stalled or dead build. Results are
assembled by key, so the output is the same for any number of workers and any completion
order. A small cache (source path + size + mtime + settings -> hash, one shard per
dataset: ``medmat.imaging.cache``) makes a re-run skip every image already done.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from PIL import Image

from medmat.imaging.localisation import annotation_task, cached_entry_usable, finish_annotated
from medmat.imaging.cache import CACHE_VERSION, MaterializeCache
from medmat.imaging.convert import ImageError, target_size
from medmat.imaging.limits import MEMORY_REASON, FileLimits, memory_detail
from medmat.imaging.loaders import LOADERS, sniff_format
from medmat.imaging.masks import build_mask
from medmat.imaging.workers import run_guarded
from medmat.io import PathEscapesRoot, dumps, safe_relpath
from medmat.records import LabeledRecord, Skip

LOADER_PARAMS = ("frame", "frame_policy", "window", "slice", "axis", "percentiles")
JPEG_QUALITY = 95
_CACHE_FLUSH_S = 15.0

Format = Literal["png", "jpeg", "auto"]
# task: (key, absolute source path, loader name, params json, max_side, fmt, limits, images dir,
#        annotation json: '' for a plain record, else {"mask": mask spec or null, "data_root": ...})
Task = tuple[str, str, str, str, "int | None", str, FileLimits, str, str]


MISSING_DEPENDENCY = "missing-dependency"


class MissingDependencyError(ImportError):
    """A file needs a package this environment lacks: never a per-file skip (every file of its
    kind would be skipped), but the build's error, naming what to install."""


def _encode(img: Image.Image, ext: str) -> bytes:
    buf = io.BytesIO()
    if ext == "jpg":
        img.save(buf, "JPEG", quality=JPEG_QUALITY)
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


def _write_image(path: str, data: bytes) -> None:
    """Atomic (temp file + rename) but not fsynced: medmat.io.write_bytes fsyncs every file,
    which doubled the time per image. A crash can at worst leave a short file under the
    right name; every reuse checks the size recorded with the hash, so it is rewritten."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".img.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _usable(path: str, nbytes: int) -> bool:
    try:
        return os.stat(path).st_size == nbytes
    except OSError:
        return False


def _run_task(task: Task) -> tuple[str, bool, tuple]:
    """Load, convert, encode and write one image (runs in a guarded worker)."""
    key, path, loader, params, max_side, fmt, limits, images_dir, annotation = task
    try:
        loaded = LOADERS.get(loader)(path, json.loads(params), max_side, fmt, limits)
        if loaded.raw is not None:
            data, ext, how = loaded.raw, ("png" if loaded.source_format == "PNG" else "jpg"), "copied"
            size = loaded.image.size
        else:
            img = loaded.image
            new_size = target_size(img.size, max_side)
            if new_size:
                img = img.resize(new_size, Image.Resampling.LANCZOS)
            photographic = loaded.source_format == "JPEG" and img.mode == "RGB"
            ext = "jpg" if fmt == "jpeg" or (fmt == "auto" and photographic) else "png"
            data, how, size = _encode(img, ext), "encoded", img.size
        digest = hashlib.sha256(data).hexdigest()
        out = os.path.join(images_dir, digest[:2], f"{digest}.{ext}")
        if not _usable(out, len(data)):
            _write_image(out, data)
        result = (digest, ext, size[0], size[1], len(data), how)
        if annotation:
            result += _annotation_result(loaded, json.loads(annotation), size, limits, os.path.dirname(images_dir))
        return key, True, result
    except ImageError as e:
        return key, False, (e.reason, e.detail, e.whole_file)
    except MemoryError:
        return key, False, (MEMORY_REASON, memory_detail(limits), True)
    except ImportError as e:  # the environment, not the file: the build stops with what to install
        return key, False, (MISSING_DEPENDENCY, str(e), False)
    except Exception as e:  # recorded, never silent: a damaged file must not stop a long build
        return key, False, ("corrupt-image", f"unexpected {type(e).__name__}: {e}", False)


def _annotation_result(loaded, annotation: dict, stored_size, limits: FileLimits, store_root: str) -> tuple:
    """(raw w, raw h, orientation, mask result or None) of an annotated record (see imaging.masks)."""
    source = loaded.source_size or loaded.image.size
    mask = None
    if annotation.get("mask"):
        mask = build_mask(annotation["mask"], annotation["data_root"], store_root, source, loaded.orientation,
                          stored_size, _write_image, limits)
    return source[0], source[1], loaded.orientation, mask


def materialize(
    records: Iterable[LabeledRecord],
    data_root: Path,
    store_root: Path,
    max_side: int | None = None,
    fmt: Format = "auto",
    workers: int = 1,
    progress: Callable[[int], Any] | None = None,
    *,
    limits: FileLimits | None = None,
    max_pixels: int | None = None,
    stats: dict[str, int] | None = None,
) -> tuple[list[LabeledRecord], list[Skip]]:
    """Write every record's image into ``store_root/images`` and return the re-pointed records.

    ``progress(n)`` is called with the number of records finished since the last call.
    ``limits`` are the per-file limits (defaults: :class:`FileLimits`); ``max_pixels``, if
    given, replaces their pixel limit (the decompression-bomb threshold).
    ``stats`` (optional dict) receives counts: encoded, copied, cached, skipped.
    Records keep their order; ``len(records) == len(out) + len(skips)``.
    """
    if fmt not in ("png", "jpeg", "auto"):
        raise ValueError(f"fmt must be 'png', 'jpeg' or 'auto', got {fmt!r}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    limits = limits or FileLimits()
    if max_pixels is not None:
        limits = limits.with_(max_pixels=max_pixels)
    data_root, store_root = Path(data_root), Path(store_root)
    images_dir = store_root / "images"
    cache = MaterializeCache(store_root)
    records = list(records)
    counts = {"encoded": 0, "copied": 0, "cached": 0, "skipped": 0}

    plan: list[tuple[LabeledRecord, str, str | Skip]] = []  # (record, source rel, key or skip)
    tasks: dict[str, Task] = {}
    weight: dict[str, int] = {}
    owner: dict[str, str] = {}  # key -> the dataset whose cache shard records it
    done: dict[str, tuple] = {}
    for rec in records:
        try:
            rel = safe_relpath(data_root, rec.image)
        except PathEscapesRoot as e:
            plan.append((rec, rec.image, Skip(rec.dataset, rec.image, "path-escapes-root", str(e))))
            continue
        src = data_root / rel
        try:
            st = src.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            plan.append((rec, rel, Skip(rec.dataset, rel, "missing-file", "source image not found")))
            continue
        if st.st_size == 0:
            plan.append((rec, rel, Skip(rec.dataset, rel, "zero-byte", "empty file")))
            continue
        loader = rec.meta.get("source_format") or sniff_format(rel)
        params = dumps({k: rec.meta[k] for k in LOADER_PARAMS if k in rec.meta})
        annotation, annotation_key = annotation_task(rec, data_root)
        key = "\x1f".join(map(str, (rel, st.st_size, st.st_mtime_ns, CACHE_VERSION, loader, params, max_side, fmt,
                                     *limits.cache_key()))) + annotation_key
        plan.append((rec, rel, key))
        weight[key] = weight.get(key, 0) + 1
        owner.setdefault(key, rec.dataset)
        hit = cache.get(rec.dataset, key)
        if hit and cached_entry_usable(hit, store_root, bool(annotation)):
            done[key] = (True, (*hit[:5], "cached", *hit[5:]))
        elif key not in tasks:
            tasks[key] = (key, str(src), loader, params, max_side, fmt, limits, str(images_dir), annotation)

    if progress:
        progress(len(records) - sum(weight[k] for k in tasks))
    failed_files: dict[str, tuple] = {}  # source path -> the failure of the whole file

    def known_failure(task: Task):
        hit = failed_files.get(task[1])
        return None if hit is None else (task[0], False, hit)

    last_flush = time.monotonic()
    try:
        for key, ok, payload in run_guarded(_run_task, [tasks[k] for k in sorted(tasks)], workers, limits,
                                            precheck=known_failure):
            done[key] = (ok, payload)
            if not ok and payload[0] == MISSING_DEPENDENCY:
                raise MissingDependencyError(
                    f"{tasks[key][1]}: {payload[1]}. Reading it needs a package that is not installed: "
                    "pip install 'medmat[imaging]' (scipy and pycocotools for masks and boxes, pydicom and "
                    "nibabel for DICOM and NIfTI)")
            if not ok and (len(payload) < 3 or payload[2]):  # the pool's time-limit / worker-crashed: the file's
                failed_files[tasks[key][1]] = (payload[0], payload[1], True)
            if ok:
                cache.put(owner[key], key, list(payload[:5]) + list(payload[6:]))
            if progress:
                progress(weight[key])
            if time.monotonic() - last_flush > _CACHE_FLUSH_S:
                cache.flush()
                last_flush = time.monotonic()
    finally:
        cache.flush()

    out: list[LabeledRecord] = []
    skips: list[Skip] = []
    for rec, rel, key in plan:
        if isinstance(key, Skip):
            skips.append(key)
            continue
        ok, payload = done[key]
        if not ok:
            skips.append(Skip(rec.dataset, rel, payload[0], payload[1]))
            continue
        digest, ext, width, height, _, how = payload[:6]
        meta = {**rec.meta, "image_hash": digest, "source_image": rel, "width": width, "height": height}
        done_rec = LabeledRecord(id=rec.id, dataset=rec.dataset, image=f"images/{digest[:2]}/{digest}.{ext}",
                                 labels=rec.labels, split=rec.split, group=rec.group, meta=meta, boxes=rec.boxes,
                                 mask=rec.mask)
        if len(payload) > 6:  # an annotated record: boxes and mask follow the image
            done_rec = finish_annotated(done_rec, payload[6:], rel)
            if isinstance(done_rec, Skip):
                skips.append(done_rec)
                continue
        counts[how] += 1
        out.append(done_rec)
    counts["skipped"] = len(skips)
    if stats is not None:
        stats.update(counts)
    return out, skips
