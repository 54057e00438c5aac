"""Structure-aware mutations of DICOM and NIfTI files (see ``fuzz_mutate`` for the contract).

DICOM: attributes that drive decoding (size, bit depth, photometric, frames, LUTs,
rescale and window, transfer syntax, pixel data) are set to extremes, odd values or
removed through pydicom, or the length field that follows a tag in the byte stream is
broken. NIfTI-1/2: header fields at their fixed offsets (dims, datatype, bitpix,
vox_offset, scaling, qform/sform, intent, magic) get extremes; a .nii.gz is decompressed,
mutated and compressed again (deterministically) or mutated as gzip bytes.
"""

from __future__ import annotations

import gzip
import io
import random
import struct

from helpers.fuzz_mutate import GENERIC, INTERESTING_INTS, Mutator, bitflip, int_extreme, truncate

_US = (0, 1, 2, 3, 7, 8, 12, 15, 16, 17, 24, 32, 64, 255, 0x7FFF, 0xFFFF)
_IS = ("0", "-1", "1", "2147483647", "99999999", "1e9", "abc", "3.5", "", "-2147483648")
_DS = ("0", "-1", "1e308", "-1e308", "nan", "inf", "x", "1e-308", "", "3\\4")
_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422", "YBR_ICT",
                "YBR_RCT", "CMYK", "ARGB", "HSV", "", "XYZ")
_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
             "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
             "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
             "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.201", "1.2.3.4", "")
_US_FIELDS = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel", "PixelRepresentation",
              "PlanarConfiguration")
_STRING_FIELDS = {"NumberOfFrames": _IS, "RescaleSlope": _DS, "RescaleIntercept": _DS, "WindowCenter": _DS,
                  "WindowWidth": _DS, "PhotometricInterpretation": _PHOTOMETRIC}
_DROP = _US_FIELDS + tuple(_STRING_FIELDS) + ("PixelData", "VOILUTSequence", "RedPaletteColorLookupTableData",
                                              "RedPaletteColorLookupTableDescriptor", "SOPClassUID")
_DICOM_TAGS = (b"\x28\x00\x10\x00", b"\x28\x00\x11\x00", b"\x28\x00\x00\x01", b"\x28\x00\x02\x00",
               b"\x28\x00\x08\x00", b"\xe0\x7f\x10\x00", b"\xfe\xff\x00\xe0", b"\x02\x00\x10\x00",
               b"\x28\x00\x01\x11", b"\x28\x00\x10\x30", b"\x08\x00\x60\x00")


def _dcm_write(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def dicom_attribute(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        op = rng.choice(("us", "string", "drop", "pixels", "syntax", "lut", "frames-vs-pixels"))
        if op == "us":
            name, value = rng.choice(_US_FIELDS), rng.choice(_US)
            setattr(ds, name, value)
        elif op == "string":
            name = rng.choice(sorted(_STRING_FIELDS))
            value = rng.choice(_STRING_FIELDS[name])
            setattr(ds, name, value)
        elif op == "drop":
            name = value = rng.choice(_DROP)
            if name in ds:
                delattr(ds, name)
        elif op == "pixels" and "PixelData" in ds:
            raw = ds.PixelData
            name, value = "PixelData", rng.choice(("half", "empty", "double", "odd", "flip"))
            ds.PixelData = {"half": raw[: len(raw) // 2], "empty": b"", "double": raw + raw, "odd": raw + b"\x00",
                            "flip": bitflip(rng, raw, b"")[0]}[value]
        elif op == "syntax":
            name, value = "TransferSyntaxUID", rng.choice(_SYNTAXES)
            ds.file_meta.TransferSyntaxUID = value
        elif op == "lut":
            name = rng.choice(("RedPaletteColorLookupTableDescriptor", "LUTDescriptor"))
            value = [rng.choice(_US), rng.choice(_US), rng.choice((0, 1, 8, 16, 17, 255))]
            if name == "LUTDescriptor" and "VOILUTSequence" in ds and len(ds.VOILUTSequence):
                ds.VOILUTSequence[0].LUTDescriptor = value
            else:
                setattr(ds, name, value)
        else:
            name, value = "NumberOfFrames", rng.choice(("2", "7", "1000", "65535"))
            ds.NumberOfFrames = value
        return _dcm_write(ds), f"dicom-{op}:{name}={value!r}"[:120]
    except Exception:  # the mutation made something pydicom will not write: mutate bytes instead
        return dicom_length(rng, data, other)


def dicom_length(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Break the VR or length that follows a known tag in the byte stream."""
    hits = [i for tag in _DICOM_TAGS for i in _find_all(data, tag)]
    if not hits:
        return int_extreme(rng, data, other)
    pos = rng.choice(hits) + 4
    width = rng.choice((2, 4, 6))
    value = rng.choice(INTERESTING_INTS + (0xFFFFFFFF,))
    raw = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return data[:pos] + raw + data[pos + width:], f"dicom-length@{pos}={value:#x}/{width}"


def _find_all(data: bytes, needle: bytes) -> list[int]:
    out, i = [], data.find(needle)
    while i >= 0 and len(out) < 64:
        out.append(i)
        i = data.find(needle, i + 1)
    return out


# -- NIfTI ---------------------------------------------------------------------------------
# (offset, struct format) of the fields that decide how voxels are read.
NIFTI1_FIELDS = [(0, "<i"), (40, "<h"), (42, "<h"), (44, "<h"), (46, "<h"), (48, "<h"), (50, "<h"), (52, "<h"),
                 (68, "<h"), (70, "<h"), (72, "<h"), (76, "<f"), (80, "<f"), (84, "<f"), (88, "<f"), (108, "<f"),
                 (112, "<f"), (116, "<f"), (252, "<h"), (254, "<h"), (256, "<f"), (268, "<f"), (280, "<f"),
                 (296, "<f"), (312, "<f"), (344, "4s"), (348, "<i")]
NIFTI2_FIELDS = [(0, "<i"), (4, "8s"), (12, "<h"), (14, "<h"), (16, "<q"), (24, "<q"), (32, "<q"), (40, "<q"),
                 (48, "<q"), (104, "<d"), (112, "<d"), (120, "<d"), (168, "<q"), (176, "<d"), (184, "<d"),
                 (344, "<i"), (348, "<i"), (352, "<d"), (400, "<d"), (432, "<d"), (504, "<i"), (540, "<i")]
_FLOATS = (0.0, -1.0, 1e-30, 1e30, 3.4e38, float("nan"), float("inf"), -float("inf"), 0.5)
_DATATYPES = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 7, 9999)
_MAGICS = (b"n+1\x00", b"ni1\x00", b"n+2\x00", b"\x00\x00\x00\x00", b"n+2\x00\r\n\x1a\n")


def _field_value(rng: random.Random, fmt: str, offset: int):
    if fmt.endswith("s"):
        return rng.choice(_MAGICS)[: int(fmt[:-1])].ljust(int(fmt[:-1]), b"\x00")
    if fmt[-1] in "fd":
        return rng.choice(_FLOATS)
    limit = {"h": 15, "i": 31, "q": 63}[fmt[-1]]
    if offset in (70, 12):  # datatype: a known code (complex, RGB, 128-bit ...) or nonsense
        return rng.choice(_DATATYPES)
    value = rng.choice((0, 1, 2, 3, 4, 5, 7, 8, -1, -2, 100, 1000, 32767, -32768, 1 << 20, (1 << limit) - 1))
    return max(-(1 << limit), min((1 << limit) - 1, value))


def nifti_header(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    gz = data[:2] == b"\x1f\x8b"
    try:
        raw = gzip.decompress(data) if gz else data
    except Exception:  # an earlier mutation broke the gzip stream
        return bitflip(rng, data, other)
    fields = NIFTI2_FIELDS if raw[:4] in (b"\x1c\x02\x00\x00", b"\x00\x00\x02\x1c") else NIFTI1_FIELDS
    steps = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        offset, fmt = rng.choice(fields)
        size = struct.calcsize(fmt)
        if offset + size > len(raw):
            continue
        value = _field_value(rng, fmt, offset)
        raw = raw[:offset] + struct.pack(fmt, value) + raw[offset + size:]
        steps.append(f"@{offset}={value!r}")
    out = gzip.compress(raw, mtime=0) if gz else raw
    return out, "nifti-header" + "".join(steps)


def nifti_dims(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Rewrite the dim array as a whole: more dimensions, zero or huge sizes."""
    gz = data[:2] == b"\x1f\x8b"
    try:
        raw = bytearray(gzip.decompress(data) if gz else data)
    except Exception:  # an earlier mutation broke the gzip stream
        return truncate(rng, data, other)
    two = raw[:4] == b"\x1c\x02\x00\x00"
    fmt, off = ("<8q", 16) if two else ("<8h", 40)
    if len(raw) < off + struct.calcsize(fmt):
        return truncate(rng, data, other)
    dims = list(struct.unpack_from(fmt, raw, off))
    choice = rng.choice(("ndim", "zero", "huge", "five", "one-d"))
    if choice == "ndim":
        dims[0] = rng.choice((0, 1, 5, 7, 8, -1, 100))
    elif choice == "zero":
        dims[rng.randrange(1, 4)] = 0
    elif choice == "huge":
        dims[rng.randrange(1, 5)] = rng.choice((30000, 32767, 1 << 20 if two else 32767))
    elif choice == "five":
        dims[0], dims[4], dims[5] = 5, max(1, dims[4]), 3
    else:
        dims[0] = 1
    struct.pack_into(fmt, raw, off, *dims)
    out = gzip.compress(bytes(raw), mtime=0) if gz else bytes(raw)
    return out, f"nifti-dims-{choice}={dims}"


MEDICAL: dict[str, list[tuple[int, Mutator]]] = {
    "dicom": GENERIC + [(10, dicom_attribute), (5, dicom_length)],
    "nifti1": GENERIC + [(10, nifti_header), (4, nifti_dims)],
    "nifti1-gz": GENERIC + [(12, nifti_header), (5, nifti_dims)],
    "nifti2": GENERIC + [(10, nifti_header), (4, nifti_dims)],
}
