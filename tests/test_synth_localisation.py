"""The synthetic localisation task (issue 11, point 5): opt-in, boxes from the latents, built
through the real box-table reader and box-choice builder; the default world is unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medmat.build import BuildConfig, build
from medmat.io import read_jsonl
from medmat.store import VQAStore
from medmat.synth import SynthConfig
from medmat.synth.design import load_design
from medmat.synth.latent import Latent
from medmat.synth.localisation import cross_rows, lesion_box, localisation_triplets, sharing_tasks
from medmat.synth.sample import resolve_triplets

# Written by the code before the localisation task existed (git 1ff21f3), for
# SynthConfig(seed=0, per_label=4, test_fraction=0.5): the default world must stay these bytes.
BEFORE = {
    "items": "8f37d9ec72cb6b7a8a56607561fdc6641afc0849e308d8af16f5d5b4bd94c3f3",
    "catalog": "bcf790d7e89e83ea3c11d8210b8de0e7d677843542fae8abdfc9aeb9620056b7",
    "latents": "d206e9e0b78e0f9901b3d29c4f59e0e5b463083a7c7567b5299dc56e49f79b65",
    "synth": "7f1de3caff0af9653968e46a1fd3f194f0d86289bbf3667fde70a63902abe19e",
}
SMALL = dict(seed=0, per_label=4, test_fraction=0.5)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(root: Path, **synth) -> VQAStore:
    build(BuildConfig(synth=SynthConfig(**{**SMALL, **synth})), root / "store", work_dir=root / "data")
    return VQAStore(root / "store")


@pytest.fixture(scope="module")
def default_store(tmp_path_factory) -> VQAStore:
    return _build(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def loc_store(tmp_path_factory) -> VQAStore:
    return _build(tmp_path_factory.mktemp("loc"), localisation=8)


def test_default_world_is_byte_identical_to_before(default_store):
    data = default_store.root.parent / "data"
    got = {"items": _sha(default_store.items_path), "catalog": _sha(data / "catalog.yaml"),
           "latents": _sha(data / "latents.jsonl"), "synth": _sha(data / "synth.json")}
    assert got == BEFORE
    assert default_store.fingerprint() == BEFORE["items"]
    assert SynthConfig(**SMALL).model_dump() == SynthConfig(**SMALL, localisation=0).model_dump()
    assert "localisation" not in SynthConfig(**SMALL).model_dump()  # content keys unchanged


def test_localisation_adds_subsets_and_changes_nothing_else(default_store, loc_store):
    before = {it.item_id: it.to_dict() for it in default_store.items()}
    after = {it.item_id: it.to_dict() for it in loc_store.items() if it.kind == "choice"}
    assert after == before  # every classification item, image and label the same bytes
    new = {it.subset for it in loc_store.items()} - {it.subset for it in default_store.items()}
    assert len(new) == 8 and all(s.endswith("-localisation") for s in new)
    assert all(it.kind == "box-choice" for it in loc_store.items() if it.subset in new)


def test_box_choice_answers_are_the_latent_boxes(loc_store):
    """Every box-choice item's correct box is the drawn lesion's box, through the real reader."""
    data = loc_store.root.parent / "data"
    rows = [r for r in read_jsonl(data / "latents.jsonl") if r["task"] == "Lesion Localisation"]
    items = [it for it in loc_store.items() if it.kind == "box-choice"]
    assert len(items) == len(rows)  # one question per image: no image skipped
    by_path = {r["path"]: r for r in rows}
    source = {}  # record id -> the raw image it was read from (the reader's meta)
    for f in (loc_store.root / "records").glob("*-localisation.jsonl"):
        source.update({r["id"]: "raw/" + r["meta"]["source_image"] for r in read_jsonl(f)})
    for it in items:
        row = by_path[source[it.source_record]]
        latent = Latent.model_validate({k: v for k, v in row.items() if k not in ("size", "sha256")})
        assert len(latent.lesions) == 1
        w, h = it.image_size
        x1, y1, x2, y2 = lesion_box(latent.lesions[0], row["size"])
        want = [round(x1 / w * 1000) / 1000, round(y1 / h * 1000) / 1000,
                round(x2 / w * 1000) / 1000, round(y2 / h * 1000) / 1000]
        assert it.answer_box == pytest.approx(want, abs=1e-3)
        assert it.option_boxes[it.answer_index] == it.answer_box
        cx, cy = (latent.lesions[0].x + 1) / 2, (latent.lesions[0].y + 1) / 2  # the lesion centre, 0-1
        assert it.answer_box[0] <= cx <= it.answer_box[2] and it.answer_box[1] <= cy <= it.answer_box[3]
        assert len(it.options) == 4 and it.caption == "abnormal"


def test_localisation_draw_is_seeded_and_covers_both_directions():
    design = load_design()
    tr = resolve_triplets(SynthConfig(), design)
    a = localisation_triplets(SynthConfig(localisation=8), design, tr)
    assert a == localisation_triplets(SynthConfig(localisation=8, seed=5), design, tr)  # not the data seed
    assert a != localisation_triplets(SynthConfig(localisation=8, localisation_seed=1), design, tr)
    shared = [(t.modality, t.area) for t in tr if t.task in sharing_tasks(design)]
    low, _ = cross_rows([(t.modality, t.area) for t in a], shared)
    assert low >= 3  # rows exist in both directions
    named = localisation_triplets(SynthConfig(localisation=["CT/Kidney", "MRI/Breast/Lesion Localisation"]),
                                  design, tr)
    assert [str(t) for t in named] == ["CT/Kidney/Lesion Localisation", "MRI/Breast/Lesion Localisation"]
    with pytest.raises(ValueError):
        localisation_triplets(SynthConfig(localisation=["CT"]), design, tr)
    assert localisation_triplets(SynthConfig(), design, tr) == []


def test_design_localisation_templates_are_data():
    loc = load_design().localisation
    assert loc is not None and loc.name == "Lesion Localisation" and len(loc.templates) >= 6
    assert loc.labels == ["abnormal"] and "abnormal" in load_design().task("presence").labels
