"""Materialisation of raster images: conversions, skips, hashing, determinism, resume."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medmat.imaging import CACHE_NAME, materialize, to_8bit, window_to_uint8
from medmat.imaging.convert import minmax_to_uint8
from medmat.records import LabeledRecord


def _rec(image: str, label: str = "x") -> LabeledRecord:
    return LabeledRecord(id=f"d:{image}", dataset="d", image=image, labels=(label,))


def _noise(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels > 1 else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    root.mkdir()
    Image.fromarray(_noise(40, 60, 3, 1)).save(root / "rgb.jpg", quality=90)
    Image.fromarray(_noise(30, 20, 1, 2)).save(root / "grey.png")
    ramp = (np.arange(64 * 32, dtype=np.uint16).reshape(32, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(root / "deep16.png")  # 16-bit greyscale PNG
    Image.fromarray(_noise(16, 16, 3, 3)).convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray(_noise(16, 16, 3, 4)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(root / "pal.png")
    rgba = Image.fromarray(_noise(10, 10, 3, 5)).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.array([0, 255], np.uint8), (10, 5))))
    rgba.save(root / "alpha.png")
    Image.fromarray(_noise(12, 12, 1, 6)).convert("LA").save(root / "la.png")
    Image.fromarray(_noise(50, 50, 3, 7)).save(root / "big.bmp")
    (root / "zero.png").write_bytes(b"")
    (root / "text.png").write_bytes(b"this is not an image at all")
    full = io.BytesIO()
    Image.fromarray(_noise(64, 64, 3, 8)).save(full, "PNG")
    (root / "trunc.png").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    Image.new("L", (300, 300)).save(root / "bomb.png")  # bomb once the limit is lowered
    return root


GOOD = ["alpha.png", "big.bmp", "cmyk.jpg", "deep16.png", "grey.png", "la.png", "pal.png", "rgb.jpg"]
BAD = {"zero.png": "zero-byte", "text.png": "not-an-image", "trunc.png": "truncated-image",
       "corrupt.jpg": "corrupt-image", "bomb.png": "decompression-bomb", "gone.png": "missing-file",
       "../raw/../../x.png": "path-escapes-root"}


def _run(raw: Path, store: Path, **kw):
    records = [_rec(name) for name in GOOD + list(BAD)]
    stats: dict = {}
    out, skips = materialize(records, raw, store, max_pixels=250 * 250, stats=stats, **kw)
    assert len(out) + len(skips) == len(records)
    return out, skips, stats


def test_formats_and_skip_reasons(raw, tmp_path):
    store = tmp_path / "store"
    seen: list[int] = []
    out, skips, stats = _run(raw, store, max_side=32, progress=seen.append)
    assert sum(seen) == len(GOOD) + len(BAD)
    assert {s.path: s.reason for s in skips} == {**BAD, "../raw/../../x.png": "path-escapes-root"}
    by_src = {r.meta["source_image"]: r for r in out}
    assert sorted(by_src) == sorted(GOOD)
    for r in out:
        data = (store / r.image).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r.meta["image_hash"]
        assert r.image == f"images/{r.meta['image_hash'][:2]}/{r.meta['image_hash']}.{r.image.rsplit('.', 1)[1]}"
        img = Image.open(store / r.image)
        assert img.mode in ("L", "RGB") and max(img.size) <= 32 and img.size == (r.meta["width"], r.meta["height"])
    assert by_src["rgb.jpg"].image.endswith(".jpg")  # photographic JPEG stays JPEG under 'auto'
    assert by_src["grey.png"].image.endswith(".png") and by_src["cmyk.jpg"].image.endswith(".jpg")
    assert by_src["rgb.jpg"].meta["width"] == 32 and by_src["rgb.jpg"].meta["height"] == 21
    deep = np.asarray(Image.open(store / by_src["deep16.png"].image))
    assert deep.dtype == np.uint8 and deep.min() <= 5 and deep.max() >= 245  # stretched (then resized)
    assert Image.open(store / by_src["pal.png"].image).mode == "RGB"
    assert stats["encoded"] == len(GOOD) - 1 and stats["copied"] == 1 and stats["skipped"] == len(BAD)  # grey.png fits


def test_passthrough_keeps_bytes_and_png_forces_reencode(raw, tmp_path):
    records = [_rec("grey.png"), _rec("rgb.jpg")]
    out, _ = materialize(records, raw, tmp_path / "s1")
    assert (tmp_path / "s1" / out[0].image).read_bytes() == (raw / "grey.png").read_bytes()
    assert (tmp_path / "s1" / out[1].image).read_bytes() == (raw / "rgb.jpg").read_bytes()
    out, _ = materialize(records, raw, tmp_path / "s2", fmt="png")
    assert all(r.image.endswith(".png") for r in out)
    assert (tmp_path / "s2" / out[0].image).read_bytes() == (raw / "grey.png").read_bytes()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s2" / out[1].image)), np.asarray(Image.open(raw / "rgb.jpg")))


def test_deterministic_across_workers_and_order(raw, tmp_path):
    out1, sk1, _ = _run(raw, tmp_path / "a", max_side=24, workers=1)
    out2, sk2, _ = _run(raw, tmp_path / "b", max_side=24, workers=2)
    assert [r.to_dict() for r in out1] == [r.to_dict() for r in out2]
    assert [s.to_dict() for s in sk1] == [s.to_dict() for s in sk2]
    files_a = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a" / "images").rglob("*.*"))
    files_b = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b" / "images").rglob("*.*"))
    assert files_a == files_b and len(files_a) == len(GOOD)
    rev, _ = materialize([_rec(n) for n in reversed(GOOD)], raw, tmp_path / "c", max_side=24, max_pixels=250 * 250)
    assert sorted(r.to_dict()["image"] for r in rev) == sorted(r.image for r in out1)


def test_resume_reencodes_nothing(raw, tmp_path):
    store = tmp_path / "store"
    out1, _, stats1 = _run(raw, store, max_side=24)
    assert list((store / CACHE_NAME).glob("*.json")) and stats1["encoded"] + stats1["copied"] == len(GOOD)
    mtimes = {p: p.stat().st_mtime_ns for p in (store / "images").rglob("*.*")}
    out2, _, stats2 = _run(raw, store, max_side=24)
    assert stats2["cached"] == len(GOOD) and stats2["encoded"] == 0
    assert [r.to_dict() for r in out2] == [r.to_dict() for r in out1]
    assert {p: p.stat().st_mtime_ns for p in (store / "images").rglob("*.*")} == mtimes
    _, _, stats3 = _run(raw, store, max_side=16)  # other settings: new work
    assert stats3["encoded"] + stats3["copied"] == len(GOOD)
    for shard in (store / CACHE_NAME).glob("*.json"):
        shard.write_text("{broken")  # a damaged cache only costs time
    out4, _, stats4 = _run(raw, store, max_side=24)
    assert stats4["encoded"] + stats4["copied"] == len(GOOD) and [r.to_dict() for r in out4] == [r.to_dict() for r in out1]


def test_identical_images_stored_once(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    arr = _noise(8, 8, 1)
    Image.fromarray(arr).save(raw / "a.png")
    Image.fromarray(arr).save(raw / "b.png")
    out, _ = materialize([_rec("a.png"), _rec("b.png", "y")], raw, tmp_path / "s")
    assert out[0].image == out[1].image and len(list((tmp_path / "s" / "images").rglob("*.png"))) == 1


def test_conversion_helpers():
    ramp = Image.fromarray(np.array([[100, 200], [300, 4000]], np.uint16))
    assert np.asarray(to_8bit(ramp)).tolist() == [[0, 7], [13, 255]]  # min-max, not a >> 8 that darkens 12-bit data
    assert to_8bit(Image.new("F", (4, 4), 0.5)).mode == "L"
    assert to_8bit(Image.new("1", (4, 4), 1)).getextrema() == (255, 255)
    assert to_8bit(Image.new("CMYK", (2, 2), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)
    assert to_8bit(Image.new("RGBA", (2, 2), (200, 100, 50, 0))).getpixel((0, 0)) == (0, 0, 0)  # alpha 0 -> black
    assert minmax_to_uint8(np.full((3, 3), 7.0)).max() == 0
    w = window_to_uint8(np.array([-1000.0, 40.0, 39.5, 1000.0]), 40, 400)
    assert w[0] == 0 and w[3] == 255 and 126 <= w[1] <= 129


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        materialize([], tmp_path, tmp_path, fmt="gif")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_side"):
        materialize([], tmp_path, tmp_path, max_side=0)


def test_header_claiming_huge_size_is_a_bomb_at_default_limit(tmp_path):
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", 60000, 60000) + bytes(data[24:29])  # 3.6 gigapixels claimed, file of ~70 bytes
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    out, skips = materialize([_rec("bomb.png")], tmp_path, tmp_path / "s")
    assert not out and [(s.reason, s.path) for s in skips] == [("decompression-bomb", "bomb.png")]
