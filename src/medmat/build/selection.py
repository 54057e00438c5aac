"""Which datasets and subsets a build covers: from a catalog, or one ad-hoc dataset.

Errors here are ``BuildError`` with a message that names every offending dataset,
so the CLI can print it as is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from medmat.build.config import DatasetJob
from medmat.vqa.builder import SubsetSpec
from medmat.vqa.builders import builder_for


class BuildError(ValueError):
    """A build that cannot start (or, with ``strict``, finished with skips); the message says why."""


def generic_templates(triplet: str) -> list[str]:
    """Six instruction templates for an ad-hoc subset that has none of its own."""
    modality, area, task = triplet.split("/", 2)
    t = task.lower()
    return [
        f"What is the {t} result for this {modality} image of the {area.lower()}?",
        f"Look at this {area.lower()} {modality} image. Which category fits it best for {t}?",
        f"Based on the {modality} image, choose the correct answer for {t}.",
        f"This is a {modality} image of the {area.lower()}. What does it show?",
        f"Classify this {area.lower()} image ({modality}) for the task: {t}.",
        f"Which label best describes this {modality} scan of the {area.lower()}?",
    ]


def _subset_spec(cat: Any, sid: str, dataset_ids: list[str]) -> SubsetSpec:
    sub = cat.subsets[sid]
    triplet = str(sub.triplet)
    try:
        templates = list(cat.templates(sid))
    except (KeyError, ValueError):
        templates = []
    labels: list[str] = []
    for ds in dataset_ids:  # union of the built datasets' labels, catalog order
        for lab in cat.datasets[ds].labels or []:
            if lab not in labels:
                labels.append(lab)
    for lab in sub.labels or []:
        if lab not in labels and any(cat.datasets[d].labels is None for d in dataset_ids):
            labels.append(lab)
    return SubsetSpec(
        id=sid, triplet=triplet, labels=labels, templates=templates or generic_templates(triplet),
        multi_label=bool(sub.multi_label), datasets=sorted(dataset_ids),
        builder=builder_for(sub.kind, getattr(sub, "builder", None)),  # the catalog's choice, else its kind's
    )


def catalog_jobs(cat: Any, ids: list[str], all_: bool, data_root: Path | None = None
                      ) -> tuple[list[DatasetJob], list[SubsetSpec], list[str]]:
    """Jobs + subset specs for the named datasets (or ``--all``).

    Named datasets that are unknown, todo or without a layout are errors. ``--all`` takes
    every released dataset with a layout whose input exists under ``data_root`` (only those
    of the user catalog files when there are any, so a synthetic or private catalog does
    not drag in the 109 built-in entries); the ids
    it leaves out for missing input are returned as the third value.
    """
    if not ids and not all_:
        raise BuildError("name datasets to build, or pass --all")
    unknown = sorted(i for i in ids if i not in cat.datasets)
    if unknown:
        import difflib
        hints = {u: difflib.get_close_matches(u, list(cat.datasets), n=2) for u in unknown}
        raise BuildError("unknown datasets: " + "; ".join(
            f"{u}" + (f" (did you mean {', '.join(h)}?)" if h else "") for u, h in hints.items()))
    not_found: list[str] = []
    if all_:
        chosen = set(ids)
        from medmat.catalog.loader import BUILTIN_PREFIX

        user_files = [f for f in cat.files if not f.startswith(BUILTIN_PREFIX)]
        for ds_id, e in sorted(cat.datasets.items()):
            if user_files and cat.origins.get(f"dataset:{ds_id}") not in user_files:
                continue  # with user catalogs, --all means every dataset of those files
            if e.status == "released" and e.layout is not None and ds_id not in chosen:
                if data_root is not None and dataset_root(ds_id, e.layout, data_root) is None:
                    not_found.append(ds_id)
                    continue
                chosen.add(ds_id)
        ids = sorted(chosen)
    todo = sorted(i for i in ids if cat.datasets[i].status == "todo")
    no_layout = sorted(i for i in ids if cat.datasets[i].layout is None)
    problems = []
    if todo:
        problems.append(f"status todo (no released QA to build): {', '.join(todo)}")
    if no_layout:
        problems.append(f"no layout in the catalog (add a `layout:` in a user catalog): {', '.join(no_layout)}")
    if problems:
        raise BuildError("cannot build " + "; ".join(problems))
    if not ids:
        raise BuildError("no dataset to build" + (f" (input missing under the data root for: "
                                                      f"{', '.join(not_found)})" if not_found else ""))
    jobs = [DatasetJob(id=i, subset=cat.datasets[i].subset, layout=cat.datasets[i].layout,
                       labels=cat.datasets[i].labels, label_aliases=dict(cat.datasets[i].label_aliases),
                       data_root=dataset_root(i, cat.datasets[i].layout, data_root) if data_root else None)
            for i in sorted(ids)]
    by_subset: dict[str, list[str]] = {}
    for j in jobs:
        by_subset.setdefault(j.subset, []).append(j.id)
    missing_sub = sorted(s for s in by_subset if s not in cat.subsets)
    if missing_sub:
        raise BuildError(f"subsets not in the catalog: {', '.join(missing_sub)}")
    subsets = [_subset_spec(cat, sid, dss) for sid, dss in sorted(by_subset.items())]
    return jobs, subsets, not_found


def _input_exists(layout: Any, base: Path) -> bool:
    """Whether a layout's root (or json file) and its label table are present under ``base``."""
    file = getattr(layout, "file", None)
    if file:
        return (base / file).is_file()
    root = base / (getattr(layout, "root", None) or ".")
    table = getattr(layout, "table", None)
    return root.is_dir() and (not table or (root / table).is_file())


def dataset_root(dataset_id: str, layout: Any, data_root: Path) -> Path | None:
    """The folder a dataset's layout is relative to, or None when its input is not there.

    Built-in layouts are paths inside each dataset's own download, so the convention is
    ``DATA_ROOT/<dataset id>/`` (one folder per dataset); user and synthetic catalogs
    usually write paths relative to ``DATA_ROOT`` itself (``root: <dataset id>``). The
    per-dataset folder wins when the layout resolves inside it; ``DATA_ROOT`` is used when
    the layout names a real path under it (a bare ``root: .`` does not count, else every
    such dataset would read the whole data root).
    """
    own = data_root / dataset_id
    if own.is_dir() and _input_exists(layout, own):
        return own
    names_path = bool(getattr(layout, "file", None)) or (getattr(layout, "root", None) or ".") not in (".", "")
    if names_path and _input_exists(layout, data_root):
        return data_root
    return None


def adhoc_jobs(layout_type: str, root: Path, triplet: str, dataset_id: str, subset_id: str | None = None,
               split_dirs: dict[str, str] | None = None, labels: list[str] | None = None,
               templates: list[str] | None = None) -> tuple[list[DatasetJob], list[SubsetSpec], Path]:
    """Jobs and the subset spec of one ad-hoc dataset; returns (jobs, subsets, data_root)."""
    from pydantic import TypeAdapter, ValidationError

    from medmat.catalog.models import Layout
    from medmat.mat import Triplet

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", dataset_id):
        raise BuildError(f"--dataset-id must be a lower-case slug (a-z, 0-9, '-', '_', '.'), got {dataset_id!r}")
    if subset_id is not None and (not subset_id.strip() or "/" in subset_id or subset_id.startswith(".")):
        raise BuildError(f"--subset-id may not be empty, contain '/' or start with '.', got {subset_id!r}")
    try:
        trip = str(Triplet.parse(triplet))
    except ValueError as e:
        raise BuildError(f"--triplet: {e}") from None
    fields: dict[str, Any] = {"type": layout_type}
    if layout_type == "medmat_json":
        fields.update(file=root.name, image_root=".")
        data_root = root.parent
    else:
        fields["root"] = "."
        data_root = root
        if split_dirs:
            fields["split_dirs"] = split_dirs
    try:
        layout = TypeAdapter(Layout).validate_python(fields)
    except ValidationError as e:
        raise BuildError(f"layout {layout_type!r} cannot be built from flags alone: "
                             f"{e.errors()[0]['msg']} (write a user catalog for it)") from None
    sid = subset_id or dataset_id
    job = DatasetJob(id=dataset_id, subset=sid, layout=layout, labels=labels)
    spec = SubsetSpec(id=sid, triplet=trip, labels=list(labels or []),
                      templates=templates or generic_templates(trip), datasets=[dataset_id])
    return [job], [spec], data_root
