"""What VLMEvalKit does with a custom multiple-choice TSV, rewritten small for the tests.

VLMEvalKit is not on PyPI (it installs from its git repository, which this machine cannot
reach), so the export tests check against this mirror of open-compass/VLMEvalKit at commit
895762d302b923d9d1f24ac16a7a2cbc461bb1cf:

- ``vlmeval/smp/file.py`` ``LMUDataRoot``: ``$LMUData`` when it exists, else ``~/LMUData``;
- ``vlmeval/dataset/__init__.py`` ``build_dataset``: a name it does not ship is read from
  ``<root>/<name>.tsv``; a ``question`` column is required, and columns ``A`` and ``B`` plus
  ``image`` make it a ``CustomMCQDataset``;
- ``vlmeval/dataset/image_base.py`` ``ImageBaseDataset.__init__``/``dump_image``: images are
  cached under ``<root>/images/<name>/`` as ``image_path`` (when the row has one) or
  ``<index>.jpg``, and a file that already opens is never written again;
- ``vlmeval/dataset/image_mcq.py`` ``ImageMCQDataset.build_prompt``: VLMEvalKit's own
  wording (``Question: ...\\nOptions:\\nA. ...``).

``OLD_NAMING`` switches ``dump_image`` to the older rule that ignores ``image_path``
(``<index>.jpg`` always), which earlier releases used.
"""

from __future__ import annotations

import base64
import io
import os
import string
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

OLD_NAMING = False


def LMUDataRoot() -> str:  # noqa: N802 - VLMEvalKit's name
    env = os.environ.get("LMUData")
    if env and os.path.exists(env):
        return env
    root = os.path.join(os.path.expanduser("~"), "LMUData")
    os.makedirs(root, exist_ok=True)
    return root


def _read_ok(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    try:
        Image.open(path).load()
    except Exception:  # noqa: BLE001 - "not readable" is the answer
        return False
    return True


def _decode_to_file(b64: str, path: str) -> None:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    if img.mode in ("RGBA", "P", "LA") and path.lower().endswith((".jpg", ".jpeg")):
        img = img.convert("RGB")
    img.save(path)


class CustomMCQDataset:
    TYPE = "MCQ"

    def __init__(self, dataset: str):
        self.dataset_name = dataset
        self.img_root = os.path.join(LMUDataRoot(), "images", dataset)
        data = self.load_data(dataset)
        data = data[~pd.isna(data["image"])]
        data["index"] = [str(x) for x in data["index"]]
        data["image"] = [str(x) for x in data["image"]]
        if all(x.isdigit() for x in data["index"]):
            data["index"] = [int(x) for x in data["index"]]
        self.data = data

    def load_data(self, dataset: str) -> pd.DataFrame:
        return pd.read_csv(os.path.join(LMUDataRoot(), f"{dataset}.tsv"), sep="\t")

    def dump_image(self, line: Any) -> list[str]:
        os.makedirs(self.img_root, exist_ok=True)
        if "image_path" in line and isinstance(line["image_path"], str) and not OLD_NAMING:
            path = os.path.join(self.img_root, line["image_path"])
        else:
            path = os.path.join(self.img_root, f"{line['index']}.jpg")
        if not _read_ok(path):
            _decode_to_file(line["image"], path)
        return [path]

    def build_prompt(self, line: Any) -> list[dict[str, str]]:
        if isinstance(line, int):
            line = self.data.iloc[line]
        paths = self.dump_image(line)
        options = {c: line[c] for c in string.ascii_uppercase if c in line and not pd.isna(line[c])}
        prompt = f"Question: {line['question']}\n"
        if options:
            prompt += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in options.items())
            prompt += "Please select the correct answer from the options above. \n"
        return [*({"type": "image", "value": p} for p in paths), {"type": "text", "value": prompt}]


def build_dataset(dataset_name: str, **kwargs: Any) -> Any:
    data_file = Path(LMUDataRoot()) / f"{dataset_name}.tsv"
    if not data_file.exists():
        return None
    data = pd.read_csv(data_file, sep="\t", nrows=1)
    if "question" not in [c.lower() for c in data.columns]:
        return None
    if "A" in data and "B" in data and ("image" in data or "image_path" in data):
        return CustomMCQDataset(dataset=dataset_name, **kwargs)
    raise NotImplementedError("the mirror covers multiple-choice TSVs only")
