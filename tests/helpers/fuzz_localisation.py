"""Small corpora of every localisation annotation format medmat reads, with what they hold.

Each writer makes a dataset under ``root`` (deterministic, tens of pixels) and returns a
:class:`Corpus`: the layout, the labels, and the truth the fixture wrote: every good box
on the raw image grid, every image's labels, every mask as a label-index array, and, with
``broken=True``, the skip reasons its bad annotations must give. The tests
(``tests/test_sources_localisation*.py``) compare a build against it; the fuzz harness
(``fuzz_run``) uses the clean corpora's annotation files as seeds and mutates them.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

Box = tuple[str, float, float, float, float]


@dataclass
class Corpus:
    layout: dict
    labels: list[str]
    boxes: dict[str, list[Box]] = field(default_factory=dict)  # image -> its good boxes (raw grid)
    labels_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # image -> labels of its record
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # image -> label-index mask (raw grid)
    skips: Counter = field(default_factory=Counter)  # reason -> how many skips the build must record
    annotation: str = ""  # the file (relative to root) the fuzzer mutates


def picture(path: Path, size: tuple[int, int], seed: int, fmt: str | None = None) -> None:
    """A distinct noise image of (w, h)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, fmt)


def _save(path: Path, arr: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)


def rect_mask(size: tuple[int, int], rects: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """(h, w) uint8 map with value v on each [x1, x2) x [y1, y2) of (x1, y1, x2, y2, v)."""
    out = np.zeros((size[1], size[0]), np.uint8)
    for x1, y1, x2, y2, v in rects:
        out[y1:y2, x1:x2] = v
    return out


# --------------------------------------------------------------------------- boxes
def box_table(root: Path, broken: bool = False) -> Corpus:
    from helpers.fuzz_seeds import dicom_bytes

    picture(root / "imgs" / "a.png", (64, 48), 1)
    picture(root / "imgs" / "b.png", (40, 30), 2)
    (root / "imgs" / "c.dicom").write_bytes(dicom_bytes((np.arange(30 * 40).reshape(30, 40) % 250).astype(np.uint8)))
    rows = ["a,Mass,4,6,20,30", "a,Nodule,30,10,64,48", "a,Mass,4,6,20,30", "b,No finding,,,,", "c,Mass,1,2,39,29"]
    c = Corpus({"type": "box_table", "table": "boxes.csv", "image_column": "image_id", "label_column": "class_name",
                "image_pattern": "imgs/{image}.*", "empty_label": "No finding"}, ["Mass", "Nodule", "No finding"],
               annotation="boxes.csv")
    c.boxes = {"imgs/a.png": [("Mass", 4, 6, 20, 30), ("Nodule", 30, 10, 64, 48)], "imgs/b.png": [],
               "imgs/c.dicom": [("Mass", 1, 2, 39, 29)]}
    c.labels_of = {"imgs/a.png": ("Mass", "Nodule"), "imgs/b.png": ("No finding",), "imgs/c.dicom": ("Mass",)}
    if broken:
        picture(root / "imgs" / "d.png", (20, 20), 4)
        rows += ["a,Mass,5,5,5,9", "a,Mass,1,1,65,9", "a,Tumour,1,1,3,3", "a,Mass,,,,", "b,No finding,1,1,2,2",
                 "ghost,Mass,1,1,2,2", "a,Mass,x,1,2,2", "d,Mass,30,1,31,2", "a,Mass,9,9,3,3"]
        c.skips.update({"zero-area-box": 1, "box-outside-image": 2, "unknown-label": 1, "missing-coordinates": 1,
                        "box-on-no-finding": 1, "missing-image": 1, "bad-box": 2})
        c.labels_of["imgs/b.png"] = ()  # its no-finding row meets a bad row: no record, only the skip
        del c.boxes["imgs/b.png"]
    (root / "boxes.csv").write_text("image_id,class_name,x_min,y_min,x_max,y_max\n" + "\n".join(rows) + "\n")
    c.labels_of = {k: v for k, v in c.labels_of.items() if v}
    return c


def coco(root: Path, broken: bool = False, segmentation: bool = False) -> Corpus:
    picture(root / "images" / "p.jpg", (50, 40), 5, "JPEG")
    picture(root / "images" / "q.png", (30, 20), 6)
    images = [{"id": 1, "file_name": "p.jpg", "width": 50, "height": 40},
              {"id": 2, "file_name": "q.png", "width": 30, "height": 20}]
    anns = [{"id": 10, "image_id": 1, "category_id": 7, "bbox": [5, 4, 10, 12], "iscrowd": 0,
             "segmentation": [[5, 4, 15, 4, 15, 16, 5, 16]]},
            {"id": 11, "image_id": 1, "category_id": 8, "bbox": [20.5, 10, 29.5, 30], "iscrowd": 0}]
    cats = [{"id": 7, "name": "polyp"}, {"id": 8, "name": "Adenoma"}]
    c = Corpus({"type": "coco", "file": "ann/train.json", "image_dir": "images", "split": "train",
                "empty_label": "Normal", "use_segmentation": segmentation}, ["Polyp", "Adenoma", "Normal"],
               annotation="ann/train.json")
    c.boxes = {"images/p.jpg": [("Polyp", 5, 4, 15, 16), ("Adenoma", 20.5, 10, 50, 40)], "images/q.png": []}
    c.labels_of = {"images/p.jpg": ("Polyp", "Adenoma"), "images/q.png": ("Normal",)}
    if broken:
        picture(root / "images" / "r.png", (30, 20), 7)
        cats.append({"id": 9, "name": "Tumour"})
        images += [{"id": 3, "file_name": "gone.png", "width": 9, "height": 9},
                   {"id": 4, "file_name": "r.png", "width": 31, "height": 20}]
        anns += [{"id": 20, "image_id": 1, "category_id": 99, "bbox": [1, 1, 2, 2]},
                 {"id": 21, "image_id": 77, "category_id": 7, "bbox": [1, 1, 2, 2]},
                 {"id": 22, "image_id": 1, "category_id": 7, "bbox": [40, 1, 20, 2]},
                 {"id": 23, "image_id": 1, "category_id": 7, "bbox": [1, 1, 0, 2]},
                 {"id": 24, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2]},
                 {"id": 25, "image_id": 1, "category_id": 7, "bbox": "1 1 2 2"},
                 {"id": 26, "image_id": 4, "category_id": 7, "bbox": [1, 1, 2, 2]}]
        c.skips.update({"unknown-category": 1, "missing-image": 2, "box-outside-image": 1, "zero-area-box": 1,
                        "unknown-label": 1, "bad-box": 1, "image-size-mismatch": 1})
    (root / "ann").mkdir(parents=True, exist_ok=True)
    (root / "ann" / "train.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    if segmentation:
        c.masks = {"images/p.jpg": rect_mask((50, 40), [(5, 4, 15, 16, 1)])}
    return c


def voc(root: Path, broken: bool = False) -> Corpus:
    def xml(name: str, size: tuple[int, int], objects: list[tuple[str, float, float, float, float]], extra: str = "") -> str:
        objs = "".join(f"<object><name>{n}</name><difficult>{int(i == 0)}</difficult><bndbox><xmin>{a}</xmin>"
                       f"<ymin>{b}</ymin><xmax>{x}</xmax><ymax>{y}</ymax></bndbox></object>"
                       for i, (n, a, b, x, y) in enumerate(objects))
        return (f"<annotation><filename>{name}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
                f"<depth>3</depth></size>{objs}{extra}</annotation>")

    for i, stem in enumerate(("v1", "v2")):
        picture(root / "JPEGImages" / f"{stem}.jpg", (48, 36), 10 + i, "JPEG")
    ann = root / "Annotations"
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "v1.xml").write_text(xml("v1.jpg", (48, 36), [("cell", 1, 1, 10, 12), ("cell", 20, 5, 48, 36)]))
    (ann / "v2.xml").write_text(xml("v2.jpg", (48, 36), []))
    c = Corpus({"type": "voc", "image_pattern": "JPEGImages/{id}.jpg", "annotation_pattern": "Annotations/{id}.xml",
                "empty_label": "Background"}, ["Cell", "Background"], annotation="Annotations/v1.xml")
    c.boxes = {"JPEGImages/v1.jpg": [("Cell", 0, 0, 10, 12), ("Cell", 19, 4, 48, 36)], "JPEGImages/v2.jpg": []}
    c.labels_of = {"JPEGImages/v1.jpg": ("Cell",), "JPEGImages/v2.jpg": ("Background",)}
    if broken:
        for i, stem in enumerate(("v3", "v4", "v5")):
            picture(root / "JPEGImages" / f"{stem}.jpg", (48, 36), 20 + i, "JPEG")
        (ann / "v1.xml").write_text(xml("v1.jpg", (48, 36), [("cell", 1, 1, 10, 12), ("cell", 20, 5, 48, 36),
                                                            ("cell", 0, 1, 5, 5), ("Tumour", 1, 1, 2, 2),
                                                            ("cell", 5, 5, 4, 9)]))
        (ann / "v3.xml").write_text(xml("v3.jpg", (50, 36), [("cell", 1, 1, 2, 2)]))
        (ann / "v4.xml").write_text("<annotation><object>")
        (ann / "v9.xml").write_text(xml("v9.jpg", (48, 36), [("cell", 1, 1, 2, 2)]))
        c.skips.update({"box-outside-image": 1, "unknown-label": 1, "zero-area-box": 1, "image-size-mismatch": 1,
                        "malformed-annotation": 1, "missing-image": 1, "missing-annotation": 1})
    return c


def yolo(root: Path, broken: bool = False) -> Corpus:
    picture(root / "images" / "train" / "y1.png", (40, 20), 30)
    picture(root / "images" / "val" / "y2.png", (40, 20), 31)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("polyp\nulcer\n")
    lines = ["0 0.25 0.5 0.5 1.0", "1 0.875 0.25 0.25 0.5"]
    (root / "labels" / "val" / "y2.txt").write_text("")
    c = Corpus({"type": "yolo", "image_pattern": "images/{split}/{id}.png", "label_pattern": "labels/{split}/{id}.txt",
                "classes_file": "classes.txt", "empty_label": "Normal"}, ["Polyp", "Ulcer", "Normal"],
               annotation="labels/train/y1.txt")
    c.boxes = {"images/train/y1.png": [("Polyp", 0, 0, 20, 20), ("Ulcer", 30, 0, 40, 10)], "images/val/y2.png": []}
    c.labels_of = {"images/train/y1.png": ("Polyp", "Ulcer"), "images/val/y2.png": ("Normal",)}
    if broken:
        picture(root / "images" / "train" / "y3.png", (40, 20), 32)
        lines += ["2 0.5 0.5 0.1 0.1", "0 0.5 0.5", "0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2", "0 0.95 0.5 0.3 0.2",
                  "0 0.5 0.5 0 0.2", "x 0.5 0.5 0.1 0.1"]
        (root / "labels" / "train" / "y9.txt").write_text("0 0.5 0.5 0.1 0.1\n")
        c.skips.update({"unknown-category": 2, "bad-box": 1, "unsupported-annotation": 1, "box-outside-image": 1,
                        "zero-area-box": 1, "missing-image": 1, "missing-annotation": 1})
    (root / "labels" / "train" / "y1.txt").write_text("\n".join(lines) + "\n")
    return c


# --------------------------------------------------------------------------- masks
def mask_pairs(root: Path, broken: bool = False) -> Corpus:
    """Binary PNG masks (two regions + one below min_area), a JPEG mask, a two-class label map."""
    size = (60, 40)
    c = Corpus({"type": "mask_pairs", "image_pattern": "{split}/images/{id}.png", "min_area": 6,
                "masks": [{"pattern": "{split}/masks/{id}_mask.png", "label": "Lesion"},
                          {"pattern": "{split}/masks/{id}_mask.jpg", "label": "Lesion"},
                          {"pattern": "{split}/labels/{id}.png", "values": {1: "Disc", 2: "Cup"}}]},
               ["Lesion", "Disc", "Cup"], annotation="Training/masks/m1_mask.png")
    m1 = rect_mask(size, [(3, 4, 13, 10, 255), (40, 20, 55, 35, 255), (0, 38, 2, 40, 255)])
    m2 = rect_mask(size, [(10, 10, 30, 30, 255)])
    m3 = rect_mask(size, [(10, 5, 40, 35, 1), (20, 15, 30, 25, 2)])
    for i, (stem, split) in enumerate((("m1", "Training"), ("m2", "Training"), ("m3", "Test"))):
        picture(root / split / "images" / f"{stem}.png", size, 40 + i)
    _save(root / "Training" / "masks" / "m1_mask.png", m1)
    _save(root / "Training" / "masks" / "m2_mask.jpg", m2, quality=75)
    _save(root / "Test" / "labels" / "m3.png", m3)
    c.boxes = {"Training/images/m1.png": [("Lesion", 3, 4, 13, 10), ("Lesion", 40, 20, 55, 35)],
               "Training/images/m2.png": [("Lesion", 10, 10, 30, 30)],
               "Test/images/m3.png": [("Disc", 10, 5, 40, 35), ("Cup", 20, 15, 30, 25)]}
    c.labels_of = {"Training/images/m1.png": ("Lesion",), "Training/images/m2.png": ("Lesion",),
                   "Test/images/m3.png": ("Disc", "Cup")}
    c.masks = {"Training/images/m1.png": (m1 > 0).astype(np.uint8), "Training/images/m2.png": (m2 > 0).astype(np.uint8),
               "Test/images/m3.png": np.where(m3 == 1, 2, np.where(m3 == 2, 3, 0)).astype(np.uint8)}
    if broken:
        for i, stem in enumerate(("b1", "b2", "b3", "b4")):
            picture(root / "Training" / "images" / f"{stem}.png", size, 50 + i)
        _save(root / "Training" / "masks" / "b1_mask.png", rect_mask((30, 20), [(1, 1, 5, 5, 255)]))  # wrong size
        _save(root / "Training" / "labels" / "b2.png", rect_mask(size, [(1, 1, 9, 9, 7)]))  # value 7 is not mapped
        _save(root / "Training" / "masks" / "b3_mask.png", rect_mask(size, []))  # empty, and no empty_label
        _save(root / "Training" / "masks" / "orphan_mask.png", m1)  # no image
        (root / "Training" / "masks" / "b4_mask.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        c.skips.update({"mask-size-mismatch": 1, "bad-mask-value": 1, "empty-mask": 1, "missing-image": 1,
                        "corrupt-mask": 1})
    return c


def rle_encode(mask: np.ndarray, order: str, relative: bool = False, start: int = 1) -> str:
    """The runs of a binary mask as Kaggle RLE (the fixture's own encoder, written from the spec)."""
    flat = (mask.T if order == "column-major" else mask).ravel() > 0
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    if relative:
        prev = np.concatenate([[0], ends[:-1]])
        return " ".join(f"{s - p} {e - s}" for s, e, p in zip(starts, ends, prev))
    return " ".join(f"{s + start} {e - s}" for s, e in zip(starts, ends))


def rle_table(root: Path, broken: bool = False, order: str = "row-major") -> Corpus:
    """UW-Madison style: one row per class per slice, RLE 1-based absolute in ``order``."""
    size = (24, 16)  # not square: a wrong order cannot decode to the right mask
    stomach = rect_mask(size, [(2, 3, 9, 7, 1)])
    bowel = rect_mask(size, [(12, 1, 20, 14, 1)])
    picture(root / "scans" / "case1_slice_0001_24_16.png", size, 60)
    picture(root / "scans" / "case1_slice_0002_24_16.png", size, 61)
    rows = [f"case1_slice_0001,stomach,{rle_encode(stomach, order)}", f"case1_slice_0001,large_bowel,{rle_encode(bowel, order)}",
            "case1_slice_0002,stomach,", "case1_slice_0002,large_bowel,"]
    c = Corpus({"type": "rle_table", "table": "train.csv", "image_column": "id", "label_column": "class",
                "rle_column": "segmentation", "rle_order": order, "min_area": 1,
                "image_regex": r"(?P<case>case\d+)_slice_(?P<slice>\d+)",
                "image_pattern": "scans/{case}_slice_{slice}_*.png"},
               ["Stomach", "Large Bowel"], annotation="train.csv")
    c.boxes = {"scans/case1_slice_0001_24_16.png": [("Stomach", 2, 3, 9, 7), ("Large Bowel", 12, 1, 20, 14)]}
    c.labels_of = {"scans/case1_slice_0001_24_16.png": ("Stomach", "Large Bowel")}
    c.masks = {"scans/case1_slice_0001_24_16.png": stomach + 2 * bowel}
    c.skips["empty-mask"] = 1  # slice 2: every class empty, and UW-Madison has no "no finding" label
    if broken:
        picture(root / "scans" / "case1_slice_0003_24_16.png", size, 62)
        rows += ["case1_slice_0001,stomach,1 2 3", "case1_slice_0001,stomach,10 5 12 5", "case1_slice_0001,stomach,380 9",
                 "case1_slice_0001,liver,1 2", "case1_slice_0001,stomach,a b", "case2_slice_0001,stomach,1 2",
                 "case1_slice_0003,stomach,5 0"]
        c.skips.update({"bad-rle": 5, "unknown-label": 1, "missing-image": 1})
    (root / "train.csv").write_text("id,class,segmentation\n" + "\n".join(rows) + "\n")
    return c


def siim_rle(root: Path, broken: bool = False) -> Corpus:
    """SIIM-ACR style: DICOM images, column-major relative RLE, -1 = no pneumothorax, 2 rows per image."""
    from helpers.fuzz_seeds import dicom_bytes

    size = (20, 12)
    first, second = rect_mask(size, [(1, 1, 6, 5, 1)]), rect_mask(size, [(10, 4, 19, 11, 1)])
    for i, uid in enumerate(("1.2.3.1", "1.2.3.2")):
        path = root / "dicom-images-train" / f"s{i}" / f"r{i}" / f"{uid}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dicom_bytes((np.arange(size[0] * size[1]).reshape(size[1], size[0]) % 200).astype(np.uint8)))
    rows = [f"1.2.3.1, {rle_encode(first, 'column-major', relative=True)}",
            f"1.2.3.1, {rle_encode(second, 'column-major', relative=True)}", "1.2.3.2, -1"]
    c = Corpus({"type": "rle_table", "table": "train-rle.csv", "image_column": "ImageId", "rle_column": "EncodedPixels",
                "label": "Pneumothorax", "rle_order": "column-major", "rle_offsets": "relative", "min_area": 1,
                "image_pattern": "dicom-images-train/*/*/{image}.dcm", "empty_label": "No Pneumothorax"},
               ["Pneumothorax", "No Pneumothorax"], annotation="train-rle.csv")
    a, b = "dicom-images-train/s0/r0/1.2.3.1.dcm", "dicom-images-train/s1/r1/1.2.3.2.dcm"
    c.boxes = {a: [("Pneumothorax", 1, 1, 6, 5), ("Pneumothorax", 10, 4, 19, 11)], b: []}
    c.labels_of = {a: ("Pneumothorax",), b: ("No Pneumothorax",)}
    c.masks = {a: first + second, b: np.zeros((size[1], size[0]), np.uint8)}
    if broken:
        rows += ["1.2.3.1, 0 300", "1.2.3.9, -1"]
        c.skips.update({"bad-rle": 1, "missing-image": 1})
    (root / "train-rle.csv").write_text("ImageId, EncodedPixels\n" + "\n".join(rows) + "\n")
    return c


def nifti_volume(shape=(12, 10, 8), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 900, shape).astype(np.int16)


def nifti_bytes(arr: np.ndarray, affine: np.ndarray | None = None) -> bytes:
    import nibabel as nib

    return gzip.compress(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine).to_bytes(), mtime=0)


def nifti_labels(root: Path, broken: bool = False) -> Corpus:
    """A liver blob, largest on axial slice 5; 'max_area' must pick it and box it exactly."""
    shape = (12, 10, 8)
    lab = np.zeros(shape, np.uint8)
    lab[2:9, 3:7, 4:7] = 1  # x 2..8, y 3..6, slices 4..6
    lab[2:9, 1:8, 5] = 1  # slice 5: larger (y 1..7)
    lab[10, 8, 5] = 2  # one tumour voxel on slice 5
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    (root / "imagesTr" / "liver_1.nii.gz").write_bytes(nifti_bytes(nifti_volume(shape)))
    (root / "labelsTr" / "liver_1.nii.gz").write_bytes(nifti_bytes(lab))
    c = Corpus({"type": "nifti_labels", "image_pattern": "imagesTr/{id}.nii.gz", "label_pattern": "labelsTr/{id}.nii.gz",
                "values": {1: "Liver", 2: "Tumour"}, "slice_policy": "max_area", "axis": 2, "min_area": 1},
               ["Liver", "Tumour"], annotation="labelsTr/liver_1.nii.gz")
    # display layout of an axial slice (imaging.nifti.slice_2d): columns = x, rows = flipped y
    plane = np.flipud(lab[:, :, 5].T)
    ys, xs = np.nonzero(plane == 1)
    ty, tx = np.nonzero(plane == 2)
    c.boxes = {"imagesTr/liver_1.nii.gz": [("Liver", xs.min(), ys.min(), xs.max() + 1, ys.max() + 1),
                                           ("Tumour", tx.min(), ty.min(), tx.max() + 1, ty.max() + 1)]}
    c.labels_of = {"imagesTr/liver_1.nii.gz": ("Liver", "Tumour")}
    c.masks = {"imagesTr/liver_1.nii.gz": plane.astype(np.uint8)}
    if broken:
        shifted = np.eye(4)
        shifted[0, 3] = 4.0
        (root / "imagesTr" / "liver_2.nii.gz").write_bytes(nifti_bytes(nifti_volume(shape, 1)))
        (root / "labelsTr" / "liver_2.nii.gz").write_bytes(nifti_bytes(lab, shifted))
        (root / "imagesTr" / "liver_3.nii.gz").write_bytes(nifti_bytes(nifti_volume(shape, 2)))
        (root / "labelsTr" / "liver_3.nii.gz").write_bytes(nifti_bytes(lab[:, :, :6]))
        (root / "imagesTr" / "liver_4.nii.gz").write_bytes(nifti_bytes(nifti_volume(shape, 3)))
        (root / "labelsTr" / "liver_4.nii.gz").write_bytes(nifti_bytes(np.zeros(shape, np.uint8)))
        c.skips.update({"affine-mismatch": 1, "mask-size-mismatch": 1, "empty-mask": 1})
    return c


CORPORA = {"box_table": box_table, "coco": coco, "voc": voc, "yolo": yolo, "mask_pairs": mask_pairs,
           "rle_table": rle_table, "siim_rle": siim_rle, "nifti_labels": nifti_labels}
