"""Audit a VQA store for duplicate images across splits and subsets (leakage).

Unit of work: each distinct image file of the store (multi-label items share one).
Files are grouped by pixel hash (exact duplicates, re-encodings included); each group
gets one perceptual hash; groups within ``threshold`` bits are near-duplicate candidates,
kept when their structure similarity is >= ``min_similarity`` (0 keeps every candidate).
A *leak* is a duplicate seen in the train and the test split of one subset
(``cross-split``) or in the test split of one subset and the train split of another
(``cross-subset``: training on subset Y then testing on X would have seen the image).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from medmat.audit.hashing import DEFAULT_MIN_SIMILARITY, load, phash, pixel_hash, structure_similarity, thumbnail
from medmat.audit.neighbours import near_pairs
from medmat.store import VQAStore

DEFAULT_THRESHOLD = 6


@dataclass(frozen=True)
class ImageHashes:
    image: str
    pixel: str | None
    phash: int | None
    thumb: bytes = b""
    error: str = ""


def hash_image(root: str, image: str) -> ImageHashes:
    try:
        img = load(Path(root) / image)
        return ImageHashes(image, pixel_hash(img), phash(img), thumbnail(img))
    except Exception as e:  # noqa: BLE001 - any undecodable file is reported, not fatal
        return ImageHashes(image, None, None, error=f"{type(e).__name__}: {e}")


def _hash_all(root: Path, images: list[str], workers: int, tick: Callable[[], None] | None) -> list[ImageHashes]:
    if workers <= 1:
        out = []
        for im in images:
            out.append(hash_image(str(root), im))
            if tick:
                tick()
        return out
    with ProcessPoolExecutor(max_workers=workers) as ex:
        out = []
        for res in ex.map(hash_image, [str(root)] * len(images), images, chunksize=64):
            out.append(res)
            if tick:
                tick()
        return out


def leaks(occurrences: Iterable[tuple[str, str]]) -> list[str]:
    """Leak labels for a set of (subset, split) where one picture occurs."""
    occ = set(occurrences)
    out = set()
    subsets = {s for s, _ in occ}
    for s in subsets:
        if (s, "train") in occ and (s, "test") in occ:
            out.add(f"cross-split:{s}")
    for s_test in sorted(s for s, sp in occ if sp == "test"):
        for s_train in sorted(s for s, sp in occ if sp == "train"):
            if s_train != s_test:
                out.add(f"cross-subset:{s_test}(test)~{s_train}(train)")
    return sorted(out)


def audit_store(store: VQAStore, threshold: int = DEFAULT_THRESHOLD, workers: int = 1,
                tick: Callable[[], None] | None = None,
                min_similarity: float = DEFAULT_MIN_SIMILARITY) -> dict[str, Any]:
    """The audit report (JSON-ready, deterministic for a given store and threshold)."""
    by_image: dict[str, list] = defaultdict(list)
    for it in store.items():
        by_image[it.image].append(it)
    images = sorted(by_image)
    hashes = _hash_all(store.root, images, workers, tick)
    unreadable = [{"image": h.image, "error": h.error} for h in hashes if h.pixel is None]
    groups: dict[str, list[ImageHashes]] = defaultdict(list)
    for h in hashes:
        if h.pixel is not None:
            groups[h.pixel].append(h)
    group_keys = sorted(groups)

    def occ_of(files: list[str]) -> list[dict[str, Any]]:
        acc: dict[tuple[str, str], list[str]] = defaultdict(list)
        for f in files:
            for it in by_image[f]:
                acc[(it.subset, it.split)].append(it.item_id)
        return [{"subset": s, "split": sp, "items": sorted(ids)} for (s, sp), ids in sorted(acc.items())]

    exact = []
    for key in group_keys:
        files = sorted(h.image for h in groups[key])
        occ = occ_of(files)
        lk = leaks((o["subset"], o["split"]) for o in occ)
        if len(files) > 1 or lk:
            exact.append({"pixel_hash": key, "images": files, "occurrences": occ, "leaks": lk})
    near = []
    candidates = near_pairs([groups[k][0].phash for k in group_keys], threshold)  # type: ignore[misc]
    for i, j, d in candidates:
        sim = structure_similarity(groups[group_keys[i]][0].thumb, groups[group_keys[j]][0].thumb)
        if sim < min_similarity:
            continue
        fa = sorted(h.image for h in groups[group_keys[i]])
        fb = sorted(h.image for h in groups[group_keys[j]])
        oa, ob = occ_of(fa), occ_of(fb)
        lk = leaks([(o["subset"], o["split"]) for o in oa + ob])
        near.append({"distance": d, "similarity": round(sim, 4), "a": {"images": fa, "occurrences": oa}, "b": {"images": fb, "occurrences": ob},
                     "leaks": lk})

    def count(rows: list[dict], kind: str) -> int:
        return sum(1 for r in rows if any(x.startswith(kind) for x in r["leaks"]))

    return {
        "threshold": threshold,
        "min_similarity": min_similarity,
        "summary": {
            "items": sum(len(v) for v in by_image.values()), "images": len(images), "unreadable": len(unreadable),
            "exact_groups": len(exact), "near_candidates": len(candidates), "near_pairs": len(near),
            "leaks": {
                "exact_cross_split": count(exact, "cross-split"), "exact_cross_subset": count(exact, "cross-subset"),
                "near_cross_split": count(near, "cross-split"), "near_cross_subset": count(near, "cross-subset"),
            },
        },
        "exact": exact, "near": near, "unreadable": unreadable,
    }


def has_leak(report: dict[str, Any]) -> bool:
    return any(report["summary"]["leaks"].values())
