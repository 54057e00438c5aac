"""Load medmat's lmms-eval tasks with lmms-eval's own TaskManager and score predictions.

Run with the Python of a venv that has lmms-eval (not medmat's: lmms-eval pulls a CUDA
torch and torchvision, see docs/exports.md):

    python check_lmms_eval.py EXPORT_DIR [GROUP]   # GROUP: the export's --name, default medmat

EXPORT_DIR is a `medmat export --format lmms-eval` folder. Every subset task is built by
lmms-eval (YAML include, !function hooks, the Parquet data through `datasets`), each test
document goes through the task's doc_to_visual/doc_to_text/doc_to_target, and a fixed
set of answers (right letter, wrong letter, the right option's text, gibberish) through
process_results and the task's aggregation; the group's weighted accuracy must equal the
share of right answers. Prints one JSON line with the versions and the scores.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version


def main(export_dir: str, group: str) -> None:
    from PIL import Image
    from lmms_eval.api.metrics import aggregate_subtask_metrics
    from lmms_eval.tasks import TaskManager, get_task_dict

    tm = TaskManager(include_path=export_dir, include_defaults=False)
    assert group in tm.all_groups, (group, tm.all_groups)
    tasks: dict = {}

    def walk(d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v)
            else:
                tasks[v.config.task] = v

    walk(get_task_dict([group], tm))
    scores, sizes, right_total, n_total = [], [], 0, 0
    for name, task in sorted(tasks.items()):
        docs = list(task.test_docs())
        assert docs, name
        rows = []
        for i, doc in enumerate(docs):
            (img,) = task.doc_to_visual(doc)
            assert isinstance(img, Image.Image)
            text, target = task.doc_to_text(doc), task.doc_to_target(doc)
            assert text == doc["question_choice"] and target == doc["answer_choice"]
            wrong = next(c for c in "ABCD"[:len(doc["options"])] if c != target)
            answer = [target, wrong, doc["options"][doc["answer_index"]], "no idea"][i % 4]
            right_total += i % 4 in (0, 2)
            n_total += 1
            rows.append(task.process_results(doc, [answer]))
        aggs = task.aggregation()
        acc = aggs["accuracy"]([r["accuracy"] for r in rows])
        invalid = aggs["invalid"]([r["invalid"] for r in rows])
        expected = sum(1 for i in range(len(docs)) if i % 4 in (0, 2)) / len(docs)
        assert abs(acc - expected) < 1e-9, (name, acc, expected)
        assert abs(invalid - sum(1 for i in range(len(docs)) if i % 4 == 3) / len(docs)) < 1e-9
        scores.append(acc)
        sizes.append(len(docs))
    overall = aggregate_subtask_metrics(scores, sizes, weight_by_size=True)
    assert abs(overall - right_total / n_total) < 1e-9, (overall, right_total / n_total)
    print(json.dumps({"tool": "lmms-eval", "lmms_eval": version("lmms_eval"), "datasets": version("datasets"),
                      "tasks": sorted(tasks), "docs": n_total, "group_accuracy": overall, "ok": True}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "medmat")
