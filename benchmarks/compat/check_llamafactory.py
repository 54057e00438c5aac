"""Load medmat's LLaMA-Factory (sharegpt) export with LLaMA-Factory's own dataset code.

Run with the Python of a venv that has llamafactory (docs/exports.md):

    python check_llamafactory.py ABS_EXPORT_DIR REL_EXPORT_DIR

ABS_EXPORT_DIR is a plain `medmat export --format sharegpt` folder (absolute image
paths), REL_EXPORT_DIR one written with --copy-images. For each, LLaMA-Factory reads
``dataset_info.json`` from ``dataset_dir`` (``llamafactory.data.parser.get_dataset_list``)
and loads and aligns every dataset in it (``llamafactory.data.loader._load_single_dataset``:
``datasets.load_dataset`` + ``SharegptDatasetConverter``, which joins relative image paths
to ``media_dir``, by default ``dataset_dir``). Every row must come out with one user
prompt holding one `<image>`, one assistant letter, and an image file that opens, from a
working directory elsewhere. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib.metadata import version


def check(export_dir: str, work: str) -> int:
    from PIL import Image
    from transformers import Seq2SeqTrainingArguments

    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import DataArguments, ModelArguments

    names = sorted(json.load(open(os.path.join(export_dir, "dataset_info.json"))))
    data_args = DataArguments(dataset_dir=export_dir, dataset=names)
    assert data_args.media_dir == export_dir
    model_args = ModelArguments(model_name_or_path="unused-no-model-is-loaded")
    training_args = Seq2SeqTrainingArguments(output_dir=os.path.join(work, "out"))
    n = 0
    for attr in get_dataset_list(names, export_dir):
        ds = _load_single_dataset(attr, model_args, data_args, training_args)
        assert len(ds) > 0, attr
        for row in ds:
            prompt, response, images = row["_prompt"], row["_response"], row["_images"]
            assert [m["role"] for m in prompt] == ["user"] and [m["role"] for m in response] == ["assistant"]
            assert prompt[0]["content"].count("<image>") == len(images) == 1, row
            assert response[0]["content"] in "ABCD"
            assert os.path.isabs(images[0]), images  # joined to media_dir where relative
            Image.open(images[0]).load()
            n += 1
    return n


def main(abs_dir: str, rel_dir: str) -> None:
    with tempfile.TemporaryDirectory() as elsewhere:
        os.chdir(elsewhere)
        n_abs = check(os.path.abspath(abs_dir), elsewhere)
        n_rel = check(os.path.abspath(rel_dir), elsewhere)
    assert n_abs == n_rel
    print(json.dumps({"tool": "llamafactory", "llamafactory": version("llamafactory"),
                      "datasets": version("datasets"), "transformers": version("transformers"),
                      "rows": n_abs, "ok": True}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
