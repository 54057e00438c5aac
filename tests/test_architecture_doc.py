"""docs/ARCHITECTURE.md describes the code as it is: every module path it names exists, and
every package of medmat is on its map."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PKG = ROOT / "src" / "medmat"


def _named_paths() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    names = set()
    for code in re.findall(r"`([^`\s]+)`", text):
        if re.fullmatch(r"[\w/]+\.(py|yaml)", code):
            names.add(code)
    return sorted(names)


def test_every_named_module_exists():
    names = _named_paths()
    assert len(names) > 40  # the check reads the doc, not nothing
    missing = []
    for name in names:
        candidates = [PKG / name, ROOT / name, ROOT / "tests" / Path(name).name if name.startswith("tests/") else None]
        if not any(c is not None and c.exists() for c in candidates):
            missing.append(name)
    assert missing == [], f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_package_is_on_the_map():
    text = DOC.read_text(encoding="utf-8")
    packages = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    absent = [p for p in packages if f"`{p}/" not in text]
    assert absent == [], f"packages missing from docs/ARCHITECTURE.md: {absent}"
