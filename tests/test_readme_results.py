"""README figures come from saved results files through scripts/readme_results.py, not by hand."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_blocks_match_the_saved_results():
    assert _script().main(["--check"]) == 0


def test_a_hand_edit_is_caught(tmp_path, monkeypatch):
    mod = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- results:demo -->\n", 1)[1].split("<!-- /results:demo -->", 1)[0]
    assert "| target |" in block  # the block holds a table drawn from docs/results/demo
    (tmp_path / "README.md").write_text(readme.replace(block, block.replace("100.0", "99.9", 1)), encoding="utf-8")
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    shutil.copytree(ROOT / "docs" / "img", tmp_path / "docs" / "img")
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "docs" / "results")
    assert mod.main(["--check"]) == 1
    assert mod.main([]) == 0 and mod.main(["--check"]) == 0  # regenerated from the files
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == readme
