"""Byte- and structure-level mutations of valid files (the raster formats live here; DICOM,
NIfTI and the text formats in ``fuzz_medical`` and ``fuzz_text``).

Every mutator is ``(rng, data, other) -> (new bytes, description)``, where ``other`` is a
second seed of the same format (for splicing). Structure-aware mutators parse the
container (PNG chunks, JPEG segments, RIFF chunks, TIFF IFD entries, fixed headers) so
that a mutation reaches the decoder instead of failing at the first checksum; they
sometimes fix the checksum and sometimes do not. ``MUTATORS[fmt]`` lists
``(weight, mutator)`` pairs; ``mutate(fmt, rng, data, other)`` applies one to three.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Callable

Mutator = Callable[[random.Random, bytes, bytes], tuple[bytes, str]]

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE)
INTERESTING_INTS = (0, 1, 2, 3, 7, 8, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                    0xFFFFFFFF, 0xFFFFFFFE, 60000, 1 << 24)


def _header_pos(rng: random.Random, n: int, head: int = 512) -> int:
    """An offset, biased to the first ``head`` bytes where headers live."""
    if n <= 1:
        return 0
    return rng.randrange(min(n, head)) if rng.random() < 0.7 else rng.randrange(n)


def _put_int(data: bytes, pos: int, width: int, value: int, big: bool) -> bytes:
    value &= (1 << (8 * width)) - 1
    raw = value.to_bytes(width, "big" if big else "little")
    pos = max(0, min(pos, len(data) - width))
    return data[:pos] + raw + data[pos + width:] if len(data) >= width else raw


# -- generic -------------------------------------------------------------------------------
def bitflip(rng, data, other):
    b = bytearray(data)
    if not b:
        return b"\x00", "bitflip-empty"
    n = rng.choice((1, 1, 2, 4, 8))
    for _ in range(n):
        i = _header_pos(rng, len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b), f"bitflip x{n}"


def byte_set(rng, data, other):
    b = bytearray(data or b"\x00")
    n = rng.choice((1, 2, 4))
    for _ in range(n):
        b[_header_pos(rng, len(b))] = rng.choice(INTERESTING_BYTES)
    return bytes(b), f"byte-set x{n}"


def int_extreme(rng, data, other):
    width, big, value = rng.choice((2, 4, 4, 8)), rng.random() < 0.5, rng.choice(INTERESTING_INTS)
    pos = _header_pos(rng, len(data))
    return _put_int(data, pos, width, value, big), f"int{width * 8}{'be' if big else 'le'}@{pos}={value:#x}"


def truncate(rng, data, other):
    if len(data) < 2:
        return b"", "truncate-all"
    cut = _header_pos(rng, len(data), head=1024) if rng.random() < 0.5 else rng.randrange(1, len(data))
    return data[:cut], f"truncate@{cut}"


def extend(rng, data, other):
    kind = rng.choice(("zeros", "random", "self", "ff"))
    n = rng.choice((1, 7, 64, 4096))
    tail = {"zeros": b"\x00" * n, "ff": b"\xff" * n, "self": data[:n],
            "random": bytes(rng.randrange(256) for _ in range(n))}[kind]
    return data + tail, f"extend-{kind}+{n}"


def _span(rng, n: int) -> tuple[int, int]:
    a = rng.randrange(max(1, n))
    return a, min(n, a + rng.choice((1, 2, 4, 16, 64, 256)))


def delete_span(rng, data, other):
    a, b = _span(rng, len(data))
    return data[:a] + data[b:], f"delete[{a}:{b}]"


def duplicate_span(rng, data, other):
    a, b = _span(rng, len(data))
    return data[:b] + data[a:b] * rng.choice((1, 2, 16)) + data[b:], f"duplicate[{a}:{b}]"


def fill_span(rng, data, other):
    a, b = _span(rng, len(data))
    v = rng.choice(INTERESTING_BYTES)
    return data[:a] + bytes([v]) * (b - a) + data[b:], f"fill[{a}:{b}]={v:#x}"


def splice(rng, data, other):
    if not data or not other:
        return data + other, "splice-concat"
    a, b = rng.randrange(len(data)), rng.randrange(len(other))
    return data[:a] + other[b:], f"splice@{a}/{b}"


GENERIC: list[tuple[int, Mutator]] = [
    (4, bitflip), (3, byte_set), (4, int_extreme), (3, truncate), (1, extend), (2, delete_span),
    (2, duplicate_span), (1, fill_span), (1, splice),
]


def _fields(offsets: list[tuple[int, int, bool]], name: str) -> Mutator:
    """A mutator that sets one fixed header field (offset, width, big-endian) to an extreme."""

    def mut(rng, data, other):
        off, width, big = rng.choice(offsets)
        value = rng.choice(INTERESTING_INTS + (rng.randrange(1 << (8 * width)),))
        return _put_int(data, off, width, value, big), f"{name}-field@{off}={value:#x}"

    return mut


def _part_op(rng: random.Random, parts: list[list], ops: tuple[str, ...]) -> tuple[str, int]:
    """Pick an operation on a container's parts (chunks, segments) and a part; drop, duplicate
    and swap are done here, in place; the format's own ops are left to the caller."""
    op, i = rng.choice(("drop", "dup", "swap") + ops), rng.randrange(len(parts))
    if op == "drop":
        del parts[i]
    elif op == "dup":
        parts.insert(i, list(parts[i]))
    elif op == "swap":
        j = rng.randrange(len(parts))
        parts[i], parts[j] = parts[j], parts[i]
    return op, i


# -- PNG -----------------------------------------------------------------------------------
def _png_chunks(data: bytes) -> list[list]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        chunks.append([ctype, body])
        pos += 12 + length
        if ctype == b"IEND":
            break
    return chunks


def _png_join(chunks, fix_crc: bool = True, lengths: dict[int, int] | None = None) -> bytes:
    out = [b"\x89PNG\r\n\x1a\n"]
    for i, (ctype, body) in enumerate(chunks):
        length = (lengths or {}).get(i, len(body))
        crc = zlib.crc32(ctype + body) if fix_crc else zlib.crc32(ctype + body) ^ 1
        out.append(struct.pack(">I", length & 0xFFFFFFFF) + ctype + body + struct.pack(">I", crc & 0xFFFFFFFF))
    return b"".join(out)


def png_chunk(rng, data, other):
    chunks = _png_chunks(data)
    if not chunks:
        return bitflip(rng, data, other)
    op, i = _part_op(rng, chunks, ("ihdr", "length", "idat", "insert", "crc", "zlib"))
    lengths = None
    if op == "ihdr" and chunks[0][0] == b"IHDR" and len(chunks[0][1]) == 13:
        w, h, depth, colour, comp, filt, inter = struct.unpack(">IIBBBBB", chunks[0][1])
        field = rng.randrange(7)
        vals = [w, h, depth, colour, comp, filt, inter]
        vals[field] = rng.choice((0, 1, 2, 3, 4, 6, 7, 16, 255, 60000, 0x7FFFFFFF)) if field < 2 else rng.choice(
            (0, 1, 2, 3, 4, 5, 6, 8, 16, 255))
        if field >= 2:
            vals[field] &= 0xFF
        chunks[0][1] = struct.pack(">IIBBBBB", *vals)
    elif op == "length":
        lengths = {i: rng.choice((0, 1, len(chunks[i][1]) + 1, 0x7FFFFFFF, 0xFFFFFFFF))}
    elif op == "idat":
        idat = [k for k, c in enumerate(chunks) if c[0] == b"IDAT"]
        if idat:
            k = rng.choice(idat)
            body, _ = bitflip(rng, chunks[k][1], other)
            chunks[k][1] = body
    elif op == "insert":
        ctype = rng.choice((b"tEXt", b"zTXt", b"iCCP", b"sPLT", b"acTL", b"fcTL", b"PLTE", b"tRNS", b"eXIf", b"IDAT"))
        body = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 8, 26, 300))))
        chunks.insert(max(1, i), [ctype, body])
    elif op == "zlib":
        idat = [k for k, c in enumerate(chunks) if c[0] == b"IDAT"]
        if idat:
            raw = zlib.compress(bytes(rng.randrange(256) for _ in range(rng.choice((0, 10, 5000)))))
            chunks[idat[0]][1] = raw
    return _png_join(chunks, fix_crc=op != "crc" and rng.random() < 0.9, lengths=lengths), f"png-{op}#{i}"


# -- JPEG ----------------------------------------------------------------------------------
def _jpeg_segments(data: bytes) -> tuple[list[list], bytes]:
    """[[marker, payload]] up to SOS, and the entropy-coded rest (from SOS on)."""
    segs, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segs.append([marker, data[pos + 4:pos + 2 + length]])
        pos += 2 + length
    return segs, data[pos:]


def _jpeg_join(segs, rest: bytes, lengths: dict[int, int] | None = None) -> bytes:
    out = [b"\xff\xd8"]
    for i, (marker, body) in enumerate(segs):
        length = (lengths or {}).get(i, len(body) + 2)
        out.append(bytes([0xFF, marker]) + struct.pack(">H", length & 0xFFFF) + body)
    return b"".join(out) + rest


def jpeg_segment(rng, data, other):
    segs, rest = _jpeg_segments(data)
    if not segs:
        return bitflip(rng, data, other)
    op, i = _part_op(rng, segs, ("length", "sof", "table", "app1", "scan", "rst"))
    lengths = None
    if op == "length":
        lengths = {i: rng.choice((0, 1, 2, len(segs[i][1]) + 3, 0xFFFF))}
    elif op == "sof":
        sof = [k for k, s in enumerate(segs) if s[0] in (0xC0, 0xC1, 0xC2) and len(s[1]) >= 6]
        if sof:
            body = bytearray(segs[sof[0]][1])
            field = rng.choice(("precision", "height", "width", "ncomp", "sampling", "table"))
            if field == "precision":
                body[0] = rng.choice((0, 1, 12, 16, 255))
            elif field in ("height", "width"):
                off = 1 if field == "height" else 3
                body[off:off + 2] = struct.pack(">H", rng.choice((0, 1, 0xFFFF, 60000)))
            elif field == "ncomp":
                body[5] = rng.choice((0, 2, 4, 255))
            elif len(body) > 8:
                body[7 if field == "sampling" else 8] = rng.choice((0x00, 0x44, 0xFF, 0x11, 0x41))
            segs[sof[0]][1] = bytes(body)
    elif op == "table":
        tables = [k for k, s in enumerate(segs) if s[0] in (0xC4, 0xDB)]
        if tables:
            k = rng.choice(tables)
            segs[k][1], _ = byte_set(rng, segs[k][1], other)
    elif op == "app1":
        exif = b"Exif\x00\x00" + rng.choice((b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08")) + bytes(
            rng.randrange(256) for _ in range(rng.choice((2, 14, 60))))
        segs.insert(0, [0xE1, exif])
    elif op == "scan" and len(rest) > 4:
        rest, _ = bitflip(rng, rest, other)
    elif op == "rst" and len(rest) > 8:
        k = rng.randrange(4, len(rest))
        rest = rest[:k] + bytes([0xFF, rng.choice((0xD0, 0xD9, 0xD8, 0xC4, 0xDA))]) + rest[k:]
    return _jpeg_join(segs, rest, lengths), f"jpeg-{op}#{i}"


# -- RIFF (WebP), TIFF, BMP, GIF ------------------------------------------------------------
def riff_chunk(rng, data, other):
    """Set the RIFF size or a chunk's size/field (VP8/VP8L/VP8X/ANMF) to an extreme."""
    offsets, pos = [(4, 4, False)], 12
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        offsets += [(pos + 4, 4, False), (pos + 8, 2, False), (pos + 10, 4, False), (pos + 14, 4, False)]
        pos += 8 + size + (size & 1)
    return _fields(offsets, "riff")(rng, data, other)


def tiff_entry(rng, data, other):
    """Change one IFD0 entry's type, count or value (width, strips, bits ...)."""
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return bitflip(rng, data, other)
    big = data[:2] == b"MM"
    end = ">" if big else "<"
    ifd = struct.unpack(end + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return int_extreme(rng, data, other)
    n = struct.unpack(end + "H", data[ifd:ifd + 2])[0]
    if not n:
        return int_extreme(rng, data, other)
    k = rng.randrange(min(n, (len(data) - ifd - 2) // 12) or 1)
    entry = ifd + 2 + 12 * k
    part = rng.choice(((entry + 2, 2), (entry + 4, 4), (entry + 8, 4), (ifd, 2), (ifd + 2 + 12 * n, 4)))
    value = rng.choice(INTERESTING_INTS + (ifd, 8))  # ifd: an IFD (or offset) pointing at itself
    return _put_int(data, part[0], part[1], value, big), f"tiff-entry{k}@{part[0]}={value:#x}"


BMP_FIELDS = [(2, 4, False), (10, 4, False), (14, 4, False), (18, 4, False), (22, 4, False), (26, 2, False),
              (28, 2, False), (30, 4, False), (34, 4, False), (46, 4, False), (50, 4, False)]
GIF_FIELDS = [(6, 2, False), (8, 2, False), (10, 1, False), (11, 1, False)]


def gif_block(rng, data, other):
    """The first image descriptor's position, size, flags and LZW code size."""
    pos = data.find(b"\x2c", 13)
    if pos < 0 or pos + 11 > len(data):
        return int_extreme(rng, data, other)
    fields = [(pos + 1, 2, False), (pos + 3, 2, False), (pos + 5, 2, False), (pos + 7, 2, False),
              (pos + 9, 1, False), (pos + 10, 1, False)]
    return _fields(fields, "gif-image")(rng, data, other)


RASTER: dict[str, list[tuple[int, Mutator]]] = {
    "png": GENERIC + [(10, png_chunk)],
    "jpeg": GENERIC + [(10, jpeg_segment)],
    "webp": GENERIC + [(8, riff_chunk)],
    "tiff": GENERIC + [(10, tiff_entry)],
    "bmp": GENERIC + [(8, _fields(BMP_FIELDS, "bmp"))],
    "gif": GENERIC + [(5, _fields(GIF_FIELDS, "gif")), (5, gif_block)],
}


def apply(mutators: list[tuple[int, Mutator]], rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """One to three stacked mutations drawn by weight."""
    weights = [w for w, _ in mutators]
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        fn = rng.choices([m for _, m in mutators], weights)[0]
        try:
            data, how = fn(rng, data, other)
        except Exception as e:  # a structure mutator met a structure an earlier step broke
            data, how = bitflip(rng, data, other)
            how = f"{fn.__name__}-failed({type(e).__name__})->{how}"
        steps.append(how)
    return data, "+".join(steps)
