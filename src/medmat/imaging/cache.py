"""The materialiser's resume cache: which source file (+ settings) became which stored image.

One small JSON file per dataset under ``STORE/.materialize-cache/``: a build loads and
rewrites only the shard of the dataset it is working on, so the cost of the cache per
image does not grow with the size of the store (a single file for 100,000 images was
re-read for every dataset and rewritten every few seconds). A missing or damaged shard
only costs re-encoding; entries are used only when the image they name is still there
with the recorded size.
"""

from __future__ import annotations

from pathlib import Path

from medmat.io import read_json, slug, stable_hash, write_json

CACHE_NAME = ".materialize-cache"
CACHE_VERSION = 3


class MaterializeCache:
    def __init__(self, store_root: Path):
        self.folder = Path(store_root) / CACHE_NAME
        self._shards: dict[str, dict[str, list]] = {}
        self._dirty: set[str] = set()

    def path(self, dataset: str) -> Path:
        return self.folder / f"{slug(dataset)[:60] or 'dataset'}-{stable_hash(dataset, n=8)}.json"

    def shard(self, dataset: str) -> dict[str, list]:
        if dataset not in self._shards:
            self._shards[dataset] = _load(self.path(dataset))
        return self._shards[dataset]

    def get(self, dataset: str, key: str) -> list | None:
        return self.shard(dataset).get(key)

    def put(self, dataset: str, key: str, entry: list) -> None:
        self.shard(dataset)[key] = entry
        self._dirty.add(dataset)

    def flush(self) -> None:
        for dataset in sorted(self._dirty):
            write_json(self.path(dataset), {"version": CACHE_VERSION, "dataset": dataset,
                                            "entries": self._shards[dataset]}, indent=None)
        self._dirty.clear()


def _load(path: Path) -> dict[str, list]:
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (ValueError, OSError, UnicodeDecodeError):
        return {}  # a damaged shard only costs re-encoding
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return dict(data["entries"])
