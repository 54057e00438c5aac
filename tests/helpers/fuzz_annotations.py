"""Fuzzing the localisation annotation formats (issue 11) like the image formats.

Seeds are the annotation files of the clean corpora in ``fuzz_localisation`` (COCO json,
also with polygon and compressed-RLE segmentations; VOC XML; YOLO txt; box and RLE
tables; mask images; a NIfTI label volume). A case writes its corpus into the data root
and replaces the seed's file with the mutated bytes (``write_case``), so the reader meets
one damaged annotation among good ones. Mutators: the generic byte mutations plus, per
format, the structure-aware ones here (XML elements, YOLO numbers, RLE runs) and those of
``fuzz_text``/``fuzz_mutate``/``fuzz_medical`` (json trees, table lines, PNG chunks,
NIfTI headers).
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path
from typing import Callable

from helpers import fuzz_localisation as loc
from helpers.fuzz_medical import MEDICAL
from helpers.fuzz_mutate import GENERIC, RASTER, Mutator, bitflip
from helpers.fuzz_text import ODD_VALUES, json_tree, table_lines

ODD_NUMBERS = ("0", "-0", "-1", "1e309", "nan", "inf", "-inf", "1e-320", "4294967296", "99999999999999999999",
               "0x10", "1,5", "", "1 2", "½", "٣")


def _numbers(text: str) -> list[re.Match]:
    return list(re.finditer(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text))


def number_edit(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Replace one number of a text format (YOLO line, RLE run, XML coordinate) by an odd one."""
    text = data.decode("utf-8", "replace")
    found = _numbers(text)
    if not found:
        return bitflip(rng, data, other)
    m = rng.choice(found)
    value = rng.choice(ODD_NUMBERS + (str(int(float(m.group(0)) * rng.choice((-1, 2, 1000)))),))
    return (text[:m.start()] + value + text[m.end():]).encode("utf-8"), f"number@{m.start()}={value!r}"


def rle_runs(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Make one RLE row's runs overlap, go backwards, leave the image or lose a number."""
    lines = data.decode("utf-8", "replace").splitlines()
    rows = [i for i, line in enumerate(lines[1:], 1) if len(line.split()) >= 3]
    if not rows:
        return number_edit(rng, data, other)
    i = rng.choice(rows)
    head, _, runs = lines[i].rpartition(",")
    nums = runs.split()
    op = rng.choice(("reverse", "drop", "overlap", "huge", "zero-length", "many"))
    if op == "reverse":
        nums = nums[::-1]
    elif op == "drop":
        del nums[rng.randrange(len(nums))]
    elif op == "overlap" and len(nums) >= 4:
        nums[2] = nums[0]
    elif op == "huge":
        nums[0] = str(10 ** rng.choice((6, 12, 30)))
    elif op == "zero-length":
        nums[1] = "0"
    else:
        nums = nums * 5000
    lines[i] = f"{head}, {' '.join(nums)}" if head else " ".join(nums)
    return ("\n".join(lines) + "\n").encode("utf-8"), f"rle-{op}#{i}"


def xml_element(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Drop, duplicate, empty or fill one XML element with an odd value; or add entities."""
    text = data.decode("utf-8", "replace")
    tags = list(re.finditer(r"<(\w+)>([^<]*)</\1>", text))
    op = rng.choice(("value", "value", "drop", "dup", "entity", "doctype", "unclosed"))
    if op == "doctype":
        bomb = '<!DOCTYPE a [<!ENTITY x "xxxxxxxxxx">' + "".join(
            f'<!ENTITY x{k} "{"&x;" * 10 if k == 0 else f"&x{k - 1};" * 10}">' for k in range(8)) + "]>"
        return (bomb + text.replace("<name>cell", "<name>&x7;cell", 1)).encode(), "xml-entity-expansion"
    if op == "entity":
        return text.replace("<name>", '<name>&ext;', 1).encode(), "xml-undefined-entity"
    if op == "unclosed" or not tags:
        cut = rng.randrange(max(1, len(text)))
        return text[:cut].encode(), f"xml-cut@{cut}"
    m = rng.choice(tags)
    if op == "value":
        new = f"<{m.group(1)}>{rng.choice(ODD_NUMBERS + ODD_VALUES)}</{m.group(1)}>"
    elif op == "drop":
        new = ""
    else:
        new = m.group(0) * rng.choice((2, 3))
    return (text[:m.start()] + new + text[m.end():]).encode("utf-8", "surrogatepass"), f"xml-{op}:{m.group(1)}"


# seed name -> (corpus writer, its keyword arguments, the file the mutated bytes replace)
TARGETS: dict[str, tuple[Callable[..., loc.Corpus], dict, str]] = {
    "coco.json": (loc.coco, {}, "ann/train.json"),
    "coco-seg.json": (loc.coco, {"segmentation": True}, "ann/train.json"),
    "coco-rle.json": (loc.coco, {"segmentation": True}, "ann/train.json"),
    "v1.xml": (loc.voc, {}, "Annotations/v1.xml"),
    "y1.txt": (loc.yolo, {}, "labels/train/y1.txt"),
    "classes.txt": (loc.yolo, {}, "classes.txt"),
    "boxes.csv": (loc.box_table, {}, "boxes.csv"),
    "uw.csv": (loc.rle_table, {}, "train.csv"),
    "uw-cols.csv": (loc.rle_table, {"order": "column-major"}, "train.csv"),
    "siim.csv": (loc.siim_rle, {}, "train-rle.csv"),
    "m1_mask.png": (loc.mask_pairs, {}, "Training/masks/m1_mask.png"),
    "m2_mask.jpg": (loc.mask_pairs, {}, "Training/masks/m2_mask.jpg"),
    "m3.png": (loc.mask_pairs, {}, "Test/labels/m3.png"),
    "liver_1.nii.gz": (loc.nifti_labels, {}, "labelsTr/liver_1.nii.gz"),
}
FORMAT_SEEDS = {
    "coco-json": ("coco.json", "coco-seg.json", "coco-rle.json"), "voc-xml": ("v1.xml",),
    "yolo-txt": ("y1.txt", "classes.txt"), "box-csv": ("boxes.csv",), "rle-csv": ("uw.csv", "uw-cols.csv", "siim.csv"),
    "mask-image": ("m1_mask.png", "m2_mask.jpg", "m3.png"), "nifti-labels": ("liver_1.nii.gz",),
}
ANNOTATION_MUTATORS: dict[str, list[tuple[int, Mutator]]] = {
    "coco-json": GENERIC + [(20, json_tree), (6, number_edit)],
    "voc-xml": GENERIC + [(14, xml_element), (8, number_edit)],
    "yolo-txt": GENERIC + [(10, table_lines), (14, number_edit)],
    "box-csv": GENERIC + [(16, table_lines), (8, number_edit)],
    "rle-csv": GENERIC + [(10, table_lines), (8, number_edit), (12, rle_runs)],
    "mask-image": RASTER["png"] + [(6, m) for _, m in RASTER["jpeg"][-1:]],
    "nifti-labels": MEDICAL["nifti1-gz"],
}


def _coco_rle(doc: dict) -> dict:
    """The coco corpus with its polygon turned into a compressed RLE segmentation."""
    from pycocotools import mask as coco_mask

    img = next(i for i in doc["images"] if i["id"] == 1)
    rle = coco_mask.merge(coco_mask.frPyObjects(doc["annotations"][0]["segmentation"], img["height"], img["width"]))
    doc["annotations"][0]["segmentation"] = {"counts": rle["counts"].decode(), "size": rle["size"]}
    return doc


def write_case(name: str, data: bytes | None, raw: Path) -> tuple[dict, list[str]]:
    """The corpus of seed ``name`` under ``raw`` with its file replaced by ``data``; (layout, labels)."""
    writer, kwargs, target = TARGETS[name]
    corpus = writer(raw, **kwargs)
    path = raw / target
    if name == "coco-rle.json" and data is None:
        data = json.dumps(_coco_rle(json.loads(path.read_text()))).encode()
    if data is not None:
        path.write_bytes(data)
    return corpus.layout, corpus.labels


def annotation_seeds(fmt: str) -> list[tuple[str, bytes]]:
    out = []
    for name in FORMAT_SEEDS[fmt]:
        with tempfile.TemporaryDirectory() as tmp:
            write_case(name, None, Path(tmp))
            out.append((name, (Path(tmp) / TARGETS[name][2]).read_bytes()))
    return out
