"""How lmms-eval loads and scores a task folder, rewritten small for the tests.

lmms-eval cannot live in medmat's environment (it requires torchvision and a CUDA torch
build, which break this project's transformers; docs/exports.md), so the suite checks
the lmms-eval export against this mirror of lmms-eval 0.7.3 and
benchmarks/compat/check_lmms_eval.py runs the real one in its own venv. Mirrored:

- ``lmms_eval/utils.py`` ``load_yaml_config``: ``!function utils.f`` imports ``f`` from
  ``utils.py`` beside the YAML; ``include`` names a YAML in the same folder whose keys the
  including file overrides; with ``dataset_path`` one of the local builders (parquet ...),
  a relative ``dataset_kwargs.data_files`` path that exists beside the YAML is made
  absolute there (``_maybe_resolve_yaml_local_data_files``);
- ``lmms_eval/tasks/__init__.py`` ``TaskManager``: every ``*.yaml`` under the include path
  is a task (``task:``) or a group (``group:`` + ``task:`` list);
- ``lmms_eval/api/task.py`` ``ConfigurableTask.download``: ``datasets.load_dataset(path=
  dataset_path, name=dataset_name, **dataset_kwargs)``, then ``process_docs`` on the splits;
  ``doc_to_text`` hooks get ``lmms_eval_specific_kwargs["default"]``;
- ``lmms_eval/api/metrics.py`` ``aggregate_subtask_metrics``: a group's metric is the
  size-weighted mean of its tasks' metrics.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Callable

import yaml

LOCAL_BUILDERS = {"csv", "json", "parquet", "text", "pandas", "arrow"}


class _Function:
    def __init__(self, ref: str, yaml_dir: str):
        self.ref, self.yaml_dir = ref, yaml_dir

    def load(self) -> Callable[..., Any]:
        module, _, fn = self.ref.rpartition(".")
        path = os.path.join(self.yaml_dir, f"{module}.py")
        spec = importlib.util.spec_from_file_location(module, path)
        assert spec and spec.loader, f"no {path}"
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return getattr(mod, fn)


def _loader(yaml_dir: str) -> type:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node), yaml_dir))
    return Loader


def load_yaml_config(path: Path) -> dict[str, Any]:
    cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader(str(path.parent)))  # noqa: S506 - SafeLoader subclass
    if "include" in cfg:
        base = load_yaml_config(path.parent / cfg.pop("include"))
        cfg = {**base, **cfg}
    files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    if cfg.get("dataset_path") in LOCAL_BUILDERS and isinstance(files, dict):
        resolved = {k: (str(path.parent / v) if not os.path.isabs(v) and (path.parent / v).is_file() else v)
                    for k, v in files.items()}
        cfg["dataset_kwargs"] = {**cfg["dataset_kwargs"], "data_files": resolved}
    return cfg


def _fn(cfg: dict[str, Any], key: str) -> Callable[..., Any]:
    value = cfg[key]
    assert isinstance(value, _Function), f"{key} is not a !function"
    return value.load()


class Task:
    def __init__(self, cfg: dict[str, Any]):
        import datasets

        self.cfg = cfg
        self.name = cfg["task"]
        ds = datasets.load_dataset(path=cfg["dataset_path"], name=cfg.get("dataset_name"), **cfg["dataset_kwargs"])
        docs = ds[cfg["test_split"]]
        if "process_docs" in cfg:
            docs = _fn(cfg, "process_docs")(docs)
        self.docs = docs
        self.kwargs = (cfg.get("lmms_eval_specific_kwargs") or {}).get("default", {})

    def doc_to_visual(self, doc: dict) -> list:
        return _fn(self.cfg, "doc_to_visual")(doc)

    def doc_to_text(self, doc: dict) -> str:
        return _fn(self.cfg, "doc_to_text")(doc, self.kwargs)

    def doc_to_target(self, doc: dict) -> str:
        return _fn(self.cfg, "doc_to_target")(doc)

    def score(self, answers: list[str]) -> dict[str, float]:
        """Each document answered by the next answer; each metric aggregated as the YAML says."""
        process = _fn(self.cfg, "process_results")
        rows = [process(doc, [a]) for doc, a in zip(self.docs, answers, strict=True)]
        out = {}
        for m in self.cfg["metric_list"]:
            assert m["aggregation"] == "mean", m
            out[m["metric"]] = sum(r[m["metric"]] for r in rows) / len(rows)
        return out


class TaskManager:
    def __init__(self, include_path: Path):
        self.tasks: dict[str, Path] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        for path in sorted(Path(include_path).rglob("*.yaml")):
            cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader(str(path.parent)))  # noqa: S506
            if "group" in cfg:
                self.groups[cfg["group"]] = cfg
            elif "task" in cfg:
                self.tasks[cfg["task"]] = path

    def load(self, name: str) -> list[Task]:
        if name in self.groups:
            return [t for sub in self.groups[name]["task"] for t in self.load(sub)]
        return [Task(load_yaml_config(self.tasks[name]))]


def group_metric(scores: list[float], sizes: list[int]) -> float:
    return sum(s * n for s, n in zip(scores, sizes, strict=True)) / sum(sizes)
