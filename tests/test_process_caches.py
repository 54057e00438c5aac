"""The per-process caches a study relies on (parsed stores, decoded images) never serve
stale data: a rewritten store or image is read again, an unchanged one is shared."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from helpers.eval import make_items, write_store
from medmat.io import write_jsonl
from medmat.models.reference.images import DECODED, ImageCache
from medmat.store import PARSED, VQAStore


def test_unchanged_store_is_parsed_once_and_shared(tmp_path):
    write_store(tmp_path, make_items(6))
    a, b = VQAStore(tmp_path), VQAStore(tmp_path)
    assert a.items()[0] is b.items()[0]
    assert a.fingerprint() == b.fingerprint()


def test_rewritten_store_is_read_again(tmp_path):
    items = make_items(6)
    write_store(tmp_path, items)
    first = VQAStore(tmp_path)
    assert len(first.items()) == 6
    old_fp = first.fingerprint()
    write_jsonl(tmp_path / "items.jsonl", (it.to_dict() for it in items[:4]))  # atomic: a new file
    again = VQAStore(tmp_path)
    assert len(again.items()) == 4
    assert again.fingerprint() != old_fp
    assert len(first.items()) == 6  # an open store keeps what it read


def test_store_cache_is_bounded(tmp_path):
    for i in range(PARSED.keep + 2):
        write_store(tmp_path / f"s{i}", make_items(3))
        VQAStore(tmp_path / f"s{i}").items()
    assert len(PARSED.entries) <= PARSED.keep


def test_changed_image_is_decoded_again(tmp_path):
    items = make_items(2)
    write_store(tmp_path, items)
    before = ImageCache(items, tmp_path, 16, "gray").pixels.clone()
    path = tmp_path / items[0].image
    Image.fromarray(np.full((16, 16), 200, dtype=np.uint8)).save(path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))  # a later mtime even on coarse clocks
    after = ImageCache(items, tmp_path, 16, "gray").pixels
    assert not np.array_equal(before[0].numpy(), after[0].numpy())
    assert (after[0] == 200).all()
    assert np.array_equal(before[1].numpy(), after[1].numpy())


def test_decoded_images_are_bounded_and_read_only(tmp_path):
    items = make_items(4)
    write_store(tmp_path, items)
    old = DECODED.max_bytes
    try:
        DECODED.clear()
        DECODED.max_bytes = 2 * 16 * 16  # two gray 16 px images
        ImageCache(items, tmp_path, 16, "gray")
        assert len(DECODED.entries) == 2 and DECODED.bytes == 2 * 16 * 16
        arr = next(iter(DECODED.entries.values()))
        assert not arr.flags.writeable
    finally:
        DECODED.max_bytes = old
        DECODED.clear()


def test_roll_each_equals_one_roll_per_image():
    import torch

    from medmat.models.reference.images import roll_each

    gen = torch.Generator().manual_seed(0)
    for shape in [(8, 1, 12, 12), (5, 3, 9, 7)]:
        x = torch.rand(shape, generator=gen)
        shifts = torch.randint(-4, 5, (shape[0], 2), generator=gen)
        one_by_one = torch.stack([torch.roll(x[i], (int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2))
                                  for i in range(shape[0])])
        assert torch.equal(roll_each(x, shifts), one_by_one)


def test_allocator_tuning_is_reported_and_can_be_turned_off():
    import platform
    import subprocess
    import sys

    code = "from medmat.runtime import tune_allocator as t; a = t(); print(a['tuned'], a is t())"
    for env_value, expect in (("1", "True True"), ("0", "False True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "MEDMAT_TUNE_MALLOC": env_value}).stdout.strip()
        if env_value == "1" and platform.libc_ver()[0] != "glibc":
            continue  # other C libraries: no mallopt, reported as not tuned
        assert out == expect
