"""A store with two subsets for the export tests (``from helpers.export_store import two_subset_store``).

Subset ``03`` (3 labels) comes from the catalog dataset id ``ct-kidney-dataset`` so the
dataset card has a licence to name; subset ``s-2`` (4 labels, an id that is no Python
name) from ``my-own`` (not in the catalog). ``seed0`` shifts every image, so two stores
with different seeds have different pixels under the same item positions.
"""

from __future__ import annotations

from pathlib import Path

from helpers.build import class_folders, fake_materialize, fake_reader


def two_subset_store(tmp_path: Path, seed0: int = 0, n: int = 8) -> Path:
    from medmat.build import BuildSettings, DatasetJob, build_store
    from medmat.catalog.models import ClassFoldersLayout
    from medmat.vqa import SubsetSpec

    raw = tmp_path / "raw"
    class_folders(raw / "kidney", {"Normal": n, "Cyst": n, "Tumor": n}, seed0=seed0)
    class_folders(raw / "mine", {"w": n, "x": n, "y": n, "z": n}, seed0=seed0 + 1000)
    jobs = [DatasetJob("ct-kidney-dataset", "03", ClassFoldersLayout(root="kidney")),
            DatasetJob("my-own", "s-2", ClassFoldersLayout(root="mine"))]
    specs = [SubsetSpec("03", "CT/Kidney/Kidney Diseases Classification", ["Cyst", "Normal", "Tumor"],
                        [f"Which kidney finding is shown ({i})?" for i in range(6)], datasets=["ct-kidney-dataset"]),
             SubsetSpec("s-2", "X-ray/Chest/Toy Classification", ["w", "x", "y", "z"],
                        [f"Which toy class, variant {i}?" for i in range(6)], datasets=["my-own"])]
    store = tmp_path / "store"
    build_store(jobs, specs, raw, store, BuildSettings(seed=0), reader=fake_reader, materializer=fake_materialize)
    return store
