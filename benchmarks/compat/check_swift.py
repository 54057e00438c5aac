"""Load medmat's ms-swift export with ms-swift's own dataset loader and image loader.

Run with the Python of a venv that has ms-swift (docs/exports.md):

    python check_swift.py ABS_EXPORT_DIR REL_EXPORT_DIR

ABS_EXPORT_DIR is a plain `medmat export --format swift` folder (absolute image paths);
REL_EXPORT_DIR one written with --copy-images (paths relative to it), which ms-swift
resolves through ROOT_IMAGE_DIR (``swift/template/vision_utils.py`` ``_check_path``), so
this script loads it from another working directory with ROOT_IMAGE_DIR set. Each row
must keep one `<image>` tag per image and its image must open. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib.metadata import version


def check(export_dir: str) -> int:
    from PIL import Image
    from swift.dataset import load_dataset
    from swift.template.vision_utils import load_image

    n = 0
    for split in ("train", "test"):
        ds, val = load_dataset([os.path.join(export_dir, f"{split}.jsonl")], split_dataset_ratio=0.0, strict=True)
        assert val is None and len(ds) > 0
        for row in ds:
            msgs, images = row["messages"], row["images"]
            assert [m["role"] for m in msgs] == ["user", "assistant"], msgs
            assert msgs[0]["content"].count("<image>") == len(images) == 1
            assert msgs[1]["content"] in "ABCD"
            img = images[0]
            assert isinstance(load_image(img["path"] if isinstance(img, dict) else img), Image.Image)
            n += 1
    return n


def main(abs_dir: str, rel_dir: str) -> None:
    n_abs = check(abs_dir)
    os.environ["ROOT_IMAGE_DIR"] = os.path.abspath(rel_dir)
    rel = os.path.abspath(rel_dir)
    with tempfile.TemporaryDirectory() as elsewhere:
        os.chdir(elsewhere)
        n_rel = check(rel)
    assert n_abs == n_rel
    print(json.dumps({"tool": "ms-swift", "ms_swift": version("ms-swift"), "datasets": version("datasets"),
                      "rows": n_abs, "ok": True}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
