"""Load medmat's Parquet export with whichever `datasets` runs this script.

    python check_datasets.py EXPORT_DIR

EXPORT_DIR is a `medmat export --format parquet` folder. Loads it the two ways a user
does: the folder itself (its README.md card gives configs and features) and the Parquet
files directly; images must decode to PIL, list columns to lists, and the split sizes
must be the card's. Prints one JSON line with the `datasets` version.
"""

from __future__ import annotations

import json
import os
import sys

import yaml


def main(export_dir: str) -> None:
    import datasets
    from PIL import Image

    card = yaml.safe_load(open(os.path.join(export_dir, "README.md"), encoding="utf-8").read().split("---\n")[1])
    sizes = {s["name"]: s["num_examples"] for s in card["dataset_info"]["splits"]}
    folder = datasets.load_dataset(export_dir)
    files = datasets.load_dataset("parquet", data_files={s: os.path.join(export_dir, f"{s}.parquet") for s in sizes})
    for ds in (folder, files):
        assert {s: len(ds[s]) for s in ds} == sizes, ({s: len(ds[s]) for s in ds}, sizes)
        for split in ds:
            row = ds[split][0]
            assert isinstance(row["image"], Image.Image), type(row["image"])
            row["image"].load()
            assert isinstance(row["options"], list) and row["options"][row["answer_index"]] == row["answer"]
            assert row["question_choice"].startswith(row["question"])
    print(json.dumps({"tool": "datasets", "datasets": datasets.__version__, "splits": sizes,
                      "image_feature": repr(folder["test"].features["image"]),
                      "options_feature": repr(folder["test"].features["options"]), "ok": True}))


if __name__ == "__main__":
    main(sys.argv[1])
