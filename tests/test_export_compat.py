"""The exports loaded by the real tools, where their venvs exist on this machine.

``benchmarks/compat/run.py`` creates one venv per tool under ``$MEDMAT_COMPAT_VENVS``
(default ``<tmp>/medmat-compat``) and runs the same check scripts; this test runs them
on the suite's fixture store when those venvs are there (a developer machine after a
compat run) and says so when they are not. The suite's own mirrors (test_export*.py)
always run.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers.export_store import two_subset_store
from medmat.export import ExportConfig, export_store

ROOT = Path(__file__).resolve().parents[1]
VENVS = Path(os.environ.get("MEDMAT_COMPAT_VENVS", Path(tempfile.gettempdir()) / "medmat-compat"))
EXPORTS = {"parquet": ("parquet", {}), "lmms-eval": ("lmms-eval", {"split": "test"}), "swift": ("swift", {}),
           "swift-copied": ("swift", {"copy_images": True}), "sharegpt": ("sharegpt", {}),
           "sharegpt-copied": ("sharegpt", {"copy_images": True})}
CHECKS = {"datasets3": ("check_datasets.py", ["parquet"]), "datasets4": ("check_datasets.py", ["parquet"]),
          "lmms-eval": ("check_lmms_eval.py", ["lmms-eval"]), "ms-swift": ("check_swift.py", ["swift", "swift-copied"]),
          "llamafactory": ("check_llamafactory.py", ["sharegpt", "sharegpt-copied"])}


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("compat")
    store = two_subset_store(root)
    for folder, (fmt, opts) in EXPORTS.items():
        export_store(store, fmt, root / folder, ExportConfig(**opts))
    return root


def test_runner_and_suite_check_the_same_tools():
    import importlib.util

    spec = importlib.util.spec_from_file_location("compat_run", ROOT / "benchmarks" / "compat" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert {t: (s, f) for t, (_, s, f) in mod.TOOLS.items()} == CHECKS
    assert {k: v[:2] for k, v in mod.EXPORTS.items()} == {
        "parquet": ["-f", "parquet"], "lmms-eval": ["-f", "lmms-eval"], "swift": ["-f", "swift"],
        "swift-copied": ["-f", "swift"], "sharegpt": ["-f", "sharegpt"], "sharegpt-copied": ["-f", "sharegpt"]}


@pytest.mark.slow
@pytest.mark.parametrize("tool", sorted(CHECKS))
def test_real_tool_loads_the_export(tool, exports):
    py = VENVS / tool / "bin" / "python"
    if not py.is_file():
        pytest.skip(f"no {tool} venv at {py.parent.parent} (benchmarks/compat/run.py creates it)")
    script, folders = CHECKS[tool]
    res = subprocess.run([str(py), str(ROOT / "benchmarks" / "compat" / script), *(str(exports / f) for f in folders)],
                         capture_output=True, text=True, cwd=exports, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["ok"] is True
    if tool == "lmms-eval":
        assert out["tasks"] == ["medmat_03", "medmat_s_2"] and out["docs"] == 7
