"""docs/exports.md describes the export command as it is: every format it runs exists and
every registered format has a section; every flag it uses is one `medmat export` accepts."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from medmat.cli.main import app
from medmat.export import EXPORTERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "exports.md"


def test_every_format_is_documented_and_every_documented_format_exists():
    text = DOC.read_text(encoding="utf-8")
    used = set(re.findall(r"--format (\S+)", text)) - {"FORMAT"}
    assert used <= set(EXPORTERS.names()), used - set(EXPORTERS.names())
    table = set(re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.MULTILINE))
    assert set(EXPORTERS.names()) <= table, set(EXPORTERS.names()) - table
    assert set(EXPORTERS.names()) <= used, set(EXPORTERS.names()) - used  # each has its command


def test_documented_flags_are_accepted():
    text = DOC.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith("medmat export")]
    flags = {f for ln in lines for f in re.findall(r"(--[a-z][a-z-]+)", ln)}
    table = set(re.findall(r"^\| `(--[a-z-]+)", text, flags=re.MULTILINE))
    help_text = " ".join(CliRunner().invoke(app, ["export", "--help"], terminal_width=200).output.split())
    missing = sorted(f for f in flags | table if f not in help_text)
    assert missing == [] and {"--name", "--copy-images", "--split"} <= flags | table
