"""``medmat sources scan|convert`` through the real CLI app."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from medmat.cli.main import app


def test_scan_and_convert(tmp_path):
    for split, label in (("train", "Normal"), ("test", "Cyst")):
        (tmp_path / "ds" / split / label).mkdir(parents=True)
        Image.fromarray(np.full((6, 6), 9, np.uint8)).save(tmp_path / "ds" / split / label / "a.png")
    (tmp_path / "ds" / "train" / "Normal" / "x.txt").write_text("x")
    (tmp_path / "layout.yaml").write_text("type: class_folders\nroot: ds\n")
    runner = CliRunner()
    res = runner.invoke(app, ["sources", "scan", "demo", "--data-root", str(tmp_path), "--layout",
                              str(tmp_path / "layout.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["records"] == 2 and data["splits"] == {"test": 1, "train": 1}
    assert data["skip_reasons"] == {"not-an-image": 1}

    bad = runner.invoke(app, ["sources", "scan", "demo", "--data-root", str(tmp_path / "nope"), "--layout",
                              str(tmp_path / "layout.yaml")])
    assert bad.exit_code == 1 and "Traceback" not in bad.output and "not a folder" in " ".join(bad.output.split())

    res = runner.invoke(app, ["sources", "convert", str(tmp_path / "ds/train/Normal/a.png"),
                              str(tmp_path / "out.png"), "--max-side", "3", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["width"] == 3 and Image.open(tmp_path / "out.png").size == (3, 3)
    (tmp_path / "junk.png").write_bytes(b"nope")
    res = runner.invoke(app, ["sources", "convert", str(tmp_path / "junk.png"), str(tmp_path / "o2.png")])
    assert res.exit_code == 1 and "not-an-image" in res.output
