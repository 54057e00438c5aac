"""VLMEvalKit exports: one name and one image cache per export, the Med-MAT prompt through the
launcher, checked against the VLMEvalKit mirror (tests/helpers/export_vlmevalkit_mirror.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import export_vlmevalkit_mirror as vk
from helpers.export_store import two_subset_store
from medmat.cli.main import app
from medmat.export import ExportConfig, export_store
from medmat.export.vlmevalkit_launcher import install, is_medmat_tsv
from medmat.store import VQAStore

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    """Two stores of the same shape (same subsets, counts, indices) with different pixels."""
    return (two_subset_store(tmp_path_factory.mktemp("a"), seed0=0),
            two_subset_store(tmp_path_factory.mktemp("b"), seed0=500))


def _pixels(path: str | Path | bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(path) if isinstance(path, bytes) else path)
    return np.asarray(img.convert("RGB"))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same picture: equal, or within JPEG error (index-named caches are .jpg, ~8 grey levels
    on these noisy 32x32 fixtures); distinct fixture images differ by 50-60 levels."""
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < 20


def _cached_images_match_store(lmu: Path, name: str, store: Path) -> list[bool]:
    """Build the dataset as VLMEvalKit does, let it cache every image, compare with the store."""
    st = VQAStore(store)
    by_id = st.by_id()
    ds = vk.build_dataset(name)
    out = []
    for i in range(len(ds.data)):
        line = ds.data.iloc[i]
        (cached,) = ds.dump_image(line)
        assert Path(cached).parent == lmu / "images" / name
        out.append(_same(_pixels(cached), _pixels(st.image_path(by_id[line["item_id"]]).read_bytes())))
    return out


@pytest.mark.parametrize("old_naming", [False, True], ids=["image_path-names", "index-names"])
def test_two_exports_in_one_lmudata_never_share_cached_images(stores, tmp_path, monkeypatch, old_naming):
    lmu = tmp_path / "LMUData"
    monkeypatch.setenv("LMUData", str(lmu))
    monkeypatch.setattr(vk, "OLD_NAMING", old_naming)
    a = export_store(stores[0], "vlmevalkit", lmu, ExportConfig(split="test"))
    sub = export_store(stores[0], "vlmevalkit", lmu, ExportConfig(split="test", subsets=["s-2"]))
    b = export_store(stores[1], "vlmevalkit", lmu, ExportConfig(split="test"))
    names = [f.stem for f in (a[0], sub[0], b[0])]
    assert len(set(names)) == 3 and all(n.startswith("medmat_test_") for n in names)
    for name, store in zip(names, (stores[0], stores[0], stores[1])):  # a first, so b meets a filled cache
        assert all(_cached_images_match_store(lmu, name, store)), name


def test_the_cache_check_fails_for_a_shared_name(stores, tmp_path, monkeypatch):
    """What the unique names prevent: two exports under one name score the second on the first's images."""
    lmu = tmp_path / "LMUData"
    monkeypatch.setenv("LMUData", str(lmu))
    monkeypatch.setattr(vk, "OLD_NAMING", True)  # index-named cache, as older VLMEvalKit releases do
    (a,) = export_store(stores[0], "vlmevalkit", lmu, ExportConfig(split="test"))[:1]
    (b,) = export_store(stores[1], "vlmevalkit", tmp_path / "elsewhere", ExportConfig(split="test"))[:1]
    assert all(_cached_images_match_store(lmu, a.stem, stores[0]))
    shutil.copyfile(b, a)  # store b's TSV under a's name, a's images still cached
    assert not any(_cached_images_match_store(lmu, a.stem, stores[1]))


def test_names_follow_content_and_user_names(stores, tmp_path):
    first = [f.name for f in export_store(stores[0], "vlmevalkit", tmp_path / "x")]
    again = [f.name for f in export_store(stores[0], "vlmevalkit", tmp_path / "y")]
    assert first == again  # same export, same names (its cache is reused, rightly)
    assert sorted(n for n in first if n.endswith(".tsv"))[0].startswith("medmat_test_")
    named = export_store(stores[0], "vlmevalkit", tmp_path / "z", ExportConfig(name="kidney-ct"))
    assert [f.name for f in named] == ["kidney-ct_test.tsv", "kidney-ct_train.tsv", "medmat_vlmevalkit.py"]
    df = pd.read_csv(named[0], sep="\t")
    st = VQAStore(stores[0])
    assert sorted(set(zip(df["category"], df["l2-category"]))) == sorted(
        (s.id, s.triplet) for s in st.subsets().values())
    assert set(df["split"]) == {"test"} and list(df["index"]) == list(range(len(df)))
    assert df["image_path"].tolist() == [Path(st.by_id()[i].image).name for i in df["item_id"]]


def test_a_user_name_never_replaces_a_different_cached_dataset(stores, tmp_path, monkeypatch):
    lmu = tmp_path / "LMUData"
    monkeypatch.setenv("LMUData", str(lmu))
    cfg = ExportConfig(split="test", name="mine")
    export_store(stores[0], "vlmevalkit", lmu, cfg)
    export_store(stores[1], "vlmevalkit", lmu, cfg)  # no cache yet: replacing is harmless
    vk.build_dataset("mine_test").dump_image(vk.build_dataset("mine_test").data.iloc[0])
    before = (lmu / "mine_test.tsv").read_bytes()
    with pytest.raises(ValueError, match="images VLMEvalKit cached"):
        export_store(stores[0], "vlmevalkit", lmu, cfg)
    assert (lmu / "mine_test.tsv").read_bytes() == before and not list(lmu.glob(".*partial"))
    export_store(stores[1], "vlmevalkit", lmu, cfg)  # the same dataset again is fine


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="starts with a letter"):
        ExportConfig(name="../up")


def _fake_vlmeval_dataset() -> types.ModuleType:
    mod = types.ModuleType("vlmeval.dataset")
    mod.CustomMCQDataset = vk.CustomMCQDataset
    mod.build_dataset = vk.build_dataset
    return mod


def test_launcher_prompts_medmat_datasets_and_leaves_others_alone(stores, tmp_path, monkeypatch):
    lmu = tmp_path / "LMUData"
    monkeypatch.setenv("LMUData", str(lmu))
    (tsv, *_) = export_store(stores[0], "vlmevalkit", lmu, ExportConfig(split="test"))
    plain = pd.read_csv(tsv, sep="\t").drop(columns=["medmat_prompt"])
    plain.to_csv(lmu / "other.tsv", sep="\t", index=False)
    mod = _fake_vlmeval_dataset()
    cls = install(mod, vk.LMUDataRoot)
    assert is_medmat_tsv(tsv.stem, str(lmu)) and not is_medmat_tsv("other", str(lmu))
    ds = mod.build_dataset(tsv.stem)
    assert isinstance(ds, cls) and ds.force_use_dataset_prompt and mod.MedMatMCQDataset is cls
    by_id = VQAStore(stores[0]).by_id()
    for i in range(len(ds.data)):
        msgs = ds.build_prompt(i)
        item = by_id[ds.data.iloc[i]["item_id"]]
        assert msgs[-1] == {"type": "text", "value": item.question_choice}
        assert np.array_equal(_pixels(msgs[0]["value"]), _pixels(VQAStore(stores[0]).image_path(item).read_bytes()))
    other = mod.build_dataset("other")
    assert type(other) is vk.CustomMCQDataset and other.build_prompt(0)[-1]["value"].startswith("Question: ")


def test_launcher_script_runs_run_py_with_the_patch(stores, tmp_path):
    lmu = tmp_path / "LMUData"
    files = export_store(stores[0], "vlmevalkit", lmu, ExportConfig(split="test"))
    pkg = tmp_path / "site" / "vlmeval"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "dataset.py").write_text("from helpers.export_vlmevalkit_mirror import CustomMCQDataset, build_dataset\n")
    (pkg / "smp.py").write_text("from helpers.export_vlmevalkit_mirror import LMUDataRoot\n")
    run_py = tmp_path / "VLMEvalKit" / "run.py"
    run_py.parent.mkdir()
    run_py.write_text("import json, sys\nfrom vlmeval.dataset import build_dataset\n"
                      "ds = build_dataset(sys.argv[sys.argv.index('--data') + 1])\n"
                      "print(json.dumps([type(ds).__name__, ds.build_prompt(0)[-1]['value'], sys.argv[1:]]))\n")
    env = {**os.environ, "LMUData": str(lmu), "PYTHONPATH": os.pathsep.join([str(TESTS), str(tmp_path / "site")])}
    res = subprocess.run([sys.executable, str(lmu / "medmat_vlmevalkit.py"), str(run_py), "--data", files[0].stem,
                          "--model", "M"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    cls, prompt, argv = json.loads(res.stdout.strip().splitlines()[-1])
    first = pd.read_csv(files[0], sep="\t").iloc[0]
    assert (cls, prompt, argv) == ("MedMatMCQDataset", first["medmat_prompt"], ["--data", files[0].stem, "--model", "M"])
    bad = subprocess.run([sys.executable, str(lmu / "medmat_vlmevalkit.py")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "Usage" in bad.stderr


def test_cli_prints_where_the_tsv_must_go(stores, tmp_path, monkeypatch):
    monkeypatch.setenv("LMUData", str(tmp_path / "LMUData"))
    res = CliRunner().invoke(app, ["export", str(stores[0]), "-f", "vlmevalkit", "--out", str(tmp_path / "o"),
                                   "--split", "test", "--json"])
    assert res.exit_code == 0, res.output
    nxt = json.loads(res.stdout)["next"]
    name = Path(json.loads(res.stdout)["files"][0]).stem
    assert any(line.startswith("cp ") and '"${LMUData:-$HOME/LMUData}/"' in line for line in nxt)
    assert any(f"--data {name}" in line and "medmat_vlmevalkit.py" in line for line in nxt)
    res = CliRunner().invoke(app, ["export", str(stores[0]), "-f", "vlmevalkit", "--out", str(tmp_path / "LMUData"),
                                   "--split", "test", "--json"])
    assert not any(line.startswith("cp ") for line in json.loads(res.stdout)["next"])  # already in place
