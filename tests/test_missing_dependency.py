"""A package a reader needs but the environment lacks stops the build with what to install;
it is never a per-file skip (that would skip every file of its kind, silently)."""

from __future__ import annotations

import builtins

import pytest
from PIL import Image

from medmat.imaging.materialize import MissingDependencyError, materialize
from medmat.records import LabeledRecord


def test_a_missing_package_is_the_builds_error_not_a_skip(tmp_path, monkeypatch):
    data = tmp_path / "raw"
    data.mkdir()
    Image.new("L", (32, 32), 128).save(data / "a.png")
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 20, 20))
    mask.save(data / "a_mask.png")
    spec = {"labels": ["lesion"], "min_area": 1, "connectivity": 8,
            "layers": [{"kind": "raster", "path": "a_mask.png", "label": 1, "threshold": 128}]}
    rec = LabeledRecord(id="a", dataset="d", image="a.png", labels=["lesion"], meta={"mask_spec": spec})
    ok, _ = materialize([rec], data, tmp_path / "ok", workers=1)  # the same record with scipy: one box
    assert len(ok) == 1 and ok[0].boxes
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ModuleNotFoundError("No module named 'scipy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(MissingDependencyError, match=r"pip install 'medmat\[imaging\]'"):
        materialize([rec], data, tmp_path / "store", workers=1)
