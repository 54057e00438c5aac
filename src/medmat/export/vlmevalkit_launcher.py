"""Run VLMEvalKit on medmat exports with the Med-MAT prompt.

Written next to the TSVs by ``medmat export --format vlmevalkit``; it needs VLMEvalKit,
not medmat. Usage, from anywhere (the TSVs must be in ``$LMUData``)::

    python medmat_vlmevalkit.py PATH/TO/VLMEvalKit/run.py --data NAME --model MODEL [run.py options]

It makes every dataset whose TSV has a ``medmat_prompt`` column a ``MedMatMCQDataset``:
VLMEvalKit's own ``CustomMCQDataset`` (same TSV, same image cache, same scoring) whose
prompt is the Med-MAT text the models were trained on (question, ``A: ...`` options,
"Answer with the option's letter ..."), and which VLMEvalKit's inference uses even for
models that build their own multiple-choice prompt (``force_use_dataset_prompt``). Every
other dataset is built exactly as VLMEvalKit builds it. ``"class": "MedMatMCQDataset"``
also works in a VLMEvalKit ``--config`` json run through this script.

Plain ``python run.py --data NAME`` (without this script) evaluates the same TSV with
VLMEvalKit's own wording (``Question: ... Options: A. ...``).
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any, Callable

PROMPT_COLUMN = "medmat_prompt"


def medmat_messages(image_paths: list[str], line: Any) -> list[dict[str, str]]:
    """VLMEvalKit's message list: the images, then the Med-MAT prompt of ``line``."""
    return [*({"type": "image", "value": p} for p in image_paths),
            {"type": "text", "value": str(line[PROMPT_COLUMN])}]


def is_medmat_tsv(name: str, root: str) -> bool:
    """Whether ``root/<name>.tsv`` exists and was written by medmat (has the prompt column)."""
    path = os.path.join(root, f"{name}.tsv")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as fh:
        return PROMPT_COLUMN in fh.readline().rstrip("\n").split("\t")


def install(dataset_module: Any, lmu_root: Callable[[], str]) -> type:
    """Add ``MedMatMCQDataset`` to ``dataset_module`` (``vlmeval.dataset``) and route
    ``build_dataset`` of medmat TSVs to it; returns the class."""

    class MedMatMCQDataset(dataset_module.CustomMCQDataset):  # type: ignore[name-defined,misc]
        force_use_dataset_prompt = True

        def build_prompt(self, line: Any) -> list[dict[str, str]]:
            if isinstance(line, int):
                line = self.data.iloc[line]
            return medmat_messages(self.dump_image(line), line)

    original = dataset_module.build_dataset

    def build_dataset(dataset_name: str, **kwargs: Any) -> Any:
        if is_medmat_tsv(dataset_name, lmu_root()):
            return MedMatMCQDataset(dataset=dataset_name, **kwargs)
        return original(dataset_name, **kwargs)

    dataset_module.MedMatMCQDataset = MedMatMCQDataset
    dataset_module.build_dataset = build_dataset
    return MedMatMCQDataset


def main(argv: list[str]) -> None:
    if not argv or not argv[0].endswith(".py") or not os.path.isfile(argv[0]):
        sys.exit(__doc__)
    run_py = os.path.abspath(argv[0])
    sys.path.insert(0, os.path.dirname(run_py))
    import vlmeval.dataset  # noqa: PLC0415 - VLMEvalKit, installed by the user
    from vlmeval.smp import LMUDataRoot  # noqa: PLC0415

    install(vlmeval.dataset, LMUDataRoot)
    sys.argv = [run_py, *argv[1:]]
    runpy.run_path(run_py, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
