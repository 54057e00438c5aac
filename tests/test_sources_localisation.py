"""Localisation readers (issue 11): every format's corpus builds with every good box intact
(also after resizing) and every bad annotation a logged skip, counts balanced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.fuzz_localisation import CORPORA, Corpus, coco, mask_pairs, picture, rect_mask, rle_encode, rle_table
from medmat.imaging import materialize
from medmat.records import LabeledRecord, Skip
from medmat.sources import SourceError, read_dataset


def build(c: Corpus, root: Path, store: Path, max_side: int | None = None):
    items = list(read_dataset("ds", c.layout, root, labels=c.labels))
    recs = [i for i in items if isinstance(i, LabeledRecord)]
    skips = [i for i in items if isinstance(i, Skip)]
    out, mskips = materialize(recs, root, store, max_side=max_side)
    assert len(out) + len(mskips) == len(recs) and len(items) == len(out) + len(skips) + len(mskips)  # balanced
    return {r.meta["source_image"]: r for r in out}, skips + mskips


def scaled(boxes, src: tuple[int, int], dst: tuple[int, int]):
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return sorted((lab, x1 * sx, y1 * sy, x2 * sx, y2 * sy) for lab, x1, y1, x2, y2 in boxes)


def same_boxes(got, want) -> bool:
    got, want = sorted(got), sorted(want)
    return len(got) == len(want) and all(g[0] == w[0] and g[1:] == pytest.approx(w[1:], abs=1e-3)
                                         for g, w in zip(got, want))


def check(c: Corpus, out: dict[str, LabeledRecord], skips: list[Skip], store: Path) -> None:
    assert Counter(s.reason for s in skips) == c.skips, [(s.reason, s.detail) for s in skips]
    assert all(s.detail for s in skips)
    assert set(out) == set(c.labels_of)
    for image, rec in out.items():
        assert rec.labels == c.labels_of[image], image
        dst = (rec.meta["width"], rec.meta["height"])
        src = tuple(rec.meta["source_size"]) if rec.boxes or rec.mask else dst
        assert same_boxes(rec.boxes, scaled(c.boxes.get(image, []), src, dst)), (image, rec.boxes)
        if image in c.masks:
            stored = np.asarray(Image.open(store / rec.mask))
            want = Image.fromarray(c.masks[image]).resize(dst, Image.Resampling.NEAREST)
            assert rec.mask.startswith("masks/") and stored.dtype == np.uint8
            assert np.array_equal(stored, np.asarray(want)), image
            assert rec.meta["mask_labels"] == c.labels
        else:
            assert rec.mask is None


@pytest.mark.parametrize("name", sorted(CORPORA))
@pytest.mark.parametrize("broken", [False, True], ids=["clean", "broken"])
def test_corpus_builds_with_its_boxes_and_skips(tmp_path, name, broken):
    c = CORPORA[name](tmp_path / "raw", broken=broken)
    out, skips = build(c, tmp_path / "raw", tmp_path / "store")
    check(c, out, skips, tmp_path / "store")


@pytest.mark.parametrize("name", ["box_table", "coco", "mask_pairs", "nifti_labels", "siim_rle"])
def test_boxes_and_masks_follow_the_resize(tmp_path, name):
    c = CORPORA[name](tmp_path / "raw")
    out, skips = build(c, tmp_path / "raw", tmp_path / "store", max_side=9)
    assert all(max(r.meta["width"], r.meta["height"]) <= 9 for r in out.values())
    assert any(r.meta.get("source_size", [0, 0]) != [r.meta["width"], r.meta["height"]] for r in out.values())
    check(c, out, skips, tmp_path / "store")
    for rec in out.values():  # every box lies inside its stored image
        assert all(0 <= x1 < x2 <= rec.meta["width"] and 0 <= y1 < y2 <= rec.meta["height"]
                   for _, x1, y1, x2, y2 in rec.boxes)


def test_coco_segmentation_is_kept_as_the_mask(tmp_path):
    c = coco(tmp_path / "raw", segmentation=True)
    out, _ = build(c, tmp_path / "raw", tmp_path / "store")
    rec = out["images/p.jpg"]
    stored = np.asarray(Image.open(tmp_path / "store" / rec.mask))
    want = c.masks["images/p.jpg"]
    iou = ((stored > 0) & (want > 0)).sum() / ((stored > 0) | (want > 0)).sum()
    assert iou > 0.8 and set(np.unique(stored)) == {0, 1}  # pycocotools rasterises the polygon's inside
    assert sorted(rec.boxes) == sorted(c.boxes["images/p.jpg"])  # the boxes stay the annotations' bbox
    assert out["images/q.png"].mask is None


@pytest.mark.parametrize("order", ["row-major", "column-major"])
def test_rle_order_is_pinned_by_a_known_mask(tmp_path, order):
    c = rle_table(tmp_path / "raw", order=order)
    out, _ = build(c, tmp_path / "raw", tmp_path / "store")
    check(c, out, [s for s in _ if s.reason != "empty-mask"] + [Skip("ds", "x", "empty-mask", "x")], tmp_path / "store")
    wrong = {**c.layout, "rle_order": "column-major" if order == "row-major" else "row-major"}
    items = list(read_dataset("ds", wrong, tmp_path / "raw", labels=c.labels))
    recs = [i for i in items if isinstance(i, LabeledRecord)]
    out2, _ = materialize(recs, tmp_path / "raw", tmp_path / "store2")
    assert [sorted(r.boxes) for r in out2] != [sorted(c.boxes[r.meta["source_image"]]) for r in out2]


def test_rle_encoder_matches_the_kaggle_examples():
    """The fixture encoder against hand-written runs: 1-based row-major, 0-based relative column-major."""
    m = rect_mask((4, 3), [(1, 0, 3, 2, 1)])  # x 1..2, y 0..1
    assert rle_encode(m, "row-major") == "2 2 6 2"
    assert rle_encode(m, "column-major", relative=True) == "3 2 1 2"  # columns 1 and 2: pixels 3-4 and 6-7


def test_rle_layout_must_state_its_order(tmp_path):
    c = rle_table(tmp_path / "raw")
    with pytest.raises(SourceError, match="rle_order must be one of"):
        list(read_dataset("ds", {k: v for k, v in c.layout.items() if k != "rle_order"}, tmp_path / "raw",
                          labels=c.labels))


def test_exif_turned_image_turns_its_boxes_and_mask(tmp_path):
    """A JPEG whose EXIF says 'rotate': the stored image is turned, and so are its boxes and mask."""
    raw = tmp_path / "raw"
    picture(raw / "img" / "e.png", (40, 24), 3)
    img = Image.open(raw / "img" / "e.png").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(raw / "img" / "e.jpg", "JPEG", exif=exif.tobytes())
    (raw / "img" / "e.png").unlink()
    mask = rect_mask((40, 24), [(2, 3, 12, 9, 255)])
    Image.fromarray(mask).save(raw / "msk" / "e.png") if (raw / "msk").mkdir() is None else None
    layout = {"type": "mask_pairs", "image_pattern": "img/{id}.jpg", "masks": [{"pattern": "msk/{id}.png", "label": "X"}],
              "min_area": 1}
    out, skips = build(Corpus(layout, ["X"]), raw, tmp_path / "store")
    rec = out["img/e.jpg"]
    assert not skips and rec.meta["orientation"] == 6 and (rec.meta["width"], rec.meta["height"]) == (24, 40)
    stored = np.asarray(Image.open(tmp_path / "store" / rec.mask))
    ys, xs = np.nonzero(stored)
    assert rec.boxes == (("X", xs.min(), ys.min(), xs.max() + 1, ys.max() + 1),)
    assert rec.boxes == (("X", 24 - 9, 2, 24 - 3, 12),)  # rotated clockwise: (x, y) -> (h - y, x)


def test_label_from_a_placeholder_and_no_finding_images(tmp_path):
    """BUSI style: the folder names the label, 'normal' images have empty masks (the empty_label);
    an empty 'benign' mask contradicts its folder and is a skip, a 'normal' mask with pixels too."""
    raw = tmp_path / "raw"
    size = (20, 16)
    for cls, stem, rects in [("benign", "benign (1)", [(2, 2, 8, 8, 255)]), ("benign", "benign (2)", []),
                             ("normal", "normal (1)", []), ("normal", "normal (2)", [(1, 1, 5, 5, 255)]),
                             ("malignant", "malignant (1)", [(3, 3, 9, 9, 255)])]:
        picture(raw / cls / f"{stem}.png", size, hash(stem) % 100)
        Image.fromarray(rect_mask(size, rects)).save(raw / cls / f"{stem}_mask.png")
    Image.fromarray(rect_mask(size, [(10, 10, 14, 14, 255)])).save(raw / "malignant" / "malignant (1)_mask_1.png")
    layout = {"type": "mask_pairs", "image_pattern": "{cls}/{id}.png", "empty_label": "normal", "min_area": 1,
              "masks": [{"pattern": "{cls}/{id}_mask*.png", "label": "{cls}"}]}
    out, skips = build(Corpus(layout, ["benign", "malignant", "normal"]), raw, tmp_path / "store")
    assert {k: (r.labels, r.boxes) for k, r in out.items()} == {
        "benign/benign (1).png": (("benign",), (("benign", 2, 2, 8, 8),)),
        "normal/normal (1).png": (("normal",), ()),
        "malignant/malignant (1).png": (("malignant",), (("malignant", 3, 3, 9, 9), ("malignant", 10, 10, 14, 14))),
    }
    assert sorted((s.path, s.reason) for s in skips) == [("benign/benign (2).png", "empty-mask"),
                                                         ("normal/normal (2).png", "mask-on-no-finding")]


def test_missing_image_of_a_mask_and_ambiguous_images(tmp_path):
    raw = tmp_path / "raw"
    picture(raw / "im" / "a.png", (8, 8), 1)
    picture(raw / "im" / "a.jpg", (8, 8), 2)
    Image.fromarray(rect_mask((8, 8), [(1, 1, 4, 4, 1)])).save((raw / "im").parent / "a_m.png")
    layout = {"type": "mask_pairs", "image_pattern": "im/{id}.*", "masks": [{"pattern": "{id}_m.png", "label": "X"}]}
    items = list(read_dataset("ds", layout, raw, labels=["X"]))
    assert sorted((i.path, i.reason) for i in items) == [("im/a.jpg", "ambiguous-image"), ("im/a.png", "ambiguous-image")]
