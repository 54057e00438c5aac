"""File patterns: how localisation layouts find images, their annotation files and masks.

A pattern is a POSIX path relative to the layout root with ``{name}`` placeholders and the
glob wildcards ``*`` (any text within one folder name) and ``?`` (one character). A
placeholder matches a non-empty part of one folder or file name, and a placeholder used
twice must have the same value both times (PH2: ``{id}/{id}_lesion/{id}_lesion.bmp``).
``{split}`` is special: its value is the record's split (``Training`` -> train).

Files are found by walking the pattern's fixed leading folders once per reader (hidden
files are ignored), so thousands of rows each naming an image by id cost one walk.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from medmat.sources._common import PathEscapesRoot, ReaderContext, SourceError, is_file, is_hidden, lget, safe_relpath
from medmat.sources._localise import Bad

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*|\?|[^{*?]+|\{")


def pattern_names(text: str) -> list[str]:
    """The placeholders of a pattern (or label template), in order of first appearance."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def check_pattern(text: str) -> str:
    """A pattern's own errors (for layout validation): absolute, '..', backslashes, empty names."""
    if not text or text.startswith("/") or "\\" in text or re.match(r"^[A-Za-z]:", text):
        raise ValueError(f"pattern {text!r} must be a relative POSIX path")
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"pattern {text!r} may not have empty, '.' or '..' parts")
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        raise ValueError(f"pattern {text!r}: placeholders are written {{name}} with a-z, 0-9, _")
    return text


@dataclass(frozen=True)
class FilePattern:
    text: str
    regex: re.Pattern
    names: tuple[str, ...]
    prefix: str  # the fixed leading folders: where the walk starts

    @classmethod
    def parse(cls, text: str) -> "FilePattern":
        try:
            check_pattern(text)
        except ValueError as e:
            raise SourceError(str(e)) from None
        out, seen = [], set()
        for m in _TOKEN.finditer(text):
            tok = m.group(0)
            if m.group(1):
                name = m.group(1)
                out.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+?)")
                seen.add(name)
            elif tok == "*":
                out.append("[^/]*")
            elif tok == "?":
                out.append("[^/]")
            else:
                out.append(re.escape(tok))
        fixed = []
        for part in text.split("/")[:-1]:
            if any(c in part for c in "{*?"):
                break
            fixed.append(part)
        return cls(text, re.compile("".join(out)), tuple(pattern_names(text)), "/".join(fixed))

    def match(self, rel: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(rel)
        return None if m is None else {n: m.group(n) for n in self.names}


@dataclass
class FileIndex:
    """The files under a layout root (relative to it), walked once per folder and reused."""

    ctx: ReaderContext
    root_rel: str
    _walked: dict[str, list[str]] = field(default_factory=dict)

    def files(self, prefix: str) -> list[str]:
        if prefix not in self._walked:
            base = self.ctx.data_root / self.root_rel / prefix
            found: list[str] = []
            if base.is_dir():
                for dirpath, dirnames, filenames in os.walk(base):
                    dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
                    rel_dir = Path(dirpath).relative_to(self.ctx.data_root / self.root_rel).as_posix()
                    found += [posixpath.join(rel_dir, n) if rel_dir != "." else n for n in filenames if not is_hidden(n)]
            self._walked[prefix] = sorted(found)
        return self._walked[prefix]

    def matches(self, pattern: FilePattern) -> Iterator[tuple[str, dict[str, str]]]:
        """(path relative to the data root, placeholder values) of every file the pattern matches."""
        for rel in self.files(pattern.prefix):
            values = pattern.match(rel)
            if values is not None:
                yield posixpath.normpath(posixpath.join(self.root_rel, rel)), values

    def safe(self, rel: str) -> str:
        """``rel`` checked to stay inside the data root (a symlink may lead out); PathEscapesRoot otherwise."""
        return safe_relpath(self.ctx.data_root, rel)


def key_of(values: dict[str, str], names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(values[n] for n in sorted(names))


def layout_root(ctx: ReaderContext, layout_root_value: str) -> str:
    rel = safe_relpath(ctx.data_root, layout_root_value or ".")
    if not (ctx.data_root / rel).is_dir():
        raise SourceError(f"dataset {ctx.dataset_id}: layout root {ctx.data_root / rel} is not a folder")
    return rel


__all__ = ["FileIndex", "FilePattern", "PathEscapesRoot", "check_pattern", "key_of", "layout_root", "pattern_names"]


class ImageLocator:
    """The image a table row names: ``root/image_dir/<value><image_suffix>``, or the one file
    ``image_pattern`` matches with ``{image}`` = the value (or the named groups of
    ``image_regex`` matched against it). ``find`` raises ``Bad`` ('missing-image',
    'ambiguous-image', 'path-escapes-root')."""

    def __init__(self, index: FileIndex, layout: object):
        self.index = index
        self.image_dir = lget(layout, "image_dir", "") or ""
        self.suffix = lget(layout, "image_suffix", "") or ""
        text = lget(layout, "image_pattern", None)
        self.pattern = FilePattern.parse(text) if text else None
        regex = lget(layout, "image_regex", None)
        try:
            self.regex = re.compile(regex) if regex else None
        except re.error as e:
            raise SourceError(f"image_regex {regex!r} is not a regular expression: {e}") from None
        self._by_key: dict[tuple[str, ...], list[str]] | None = None
        self._found: dict[str, object] = {}

    def _keys(self) -> dict[tuple[str, ...], list[str]]:
        if self._by_key is None:
            self._by_key = {}
            for rel, values in self.index.matches(self.pattern):  # type: ignore[arg-type]
                self._by_key.setdefault(key_of(values, self.pattern.names), []).append(rel)  # type: ignore[union-attr]
        return self._by_key

    def find(self, value: str) -> str:
        if value not in self._found:
            try:
                self._found[value] = self._find(value)
            except Bad as e:
                self._found[value] = e
        got = self._found[value]
        if isinstance(got, Bad):
            raise got
        return got  # type: ignore[return-value]

    def _find(self, value: str) -> str:
        if not value:
            raise Bad("missing-image", "the row names no image")
        if self.pattern is None:
            joined = posixpath.join(self.index.root_rel, self.image_dir, value.replace("\\", "/") + self.suffix)
            try:
                if value.startswith(("/", "\\")):
                    raise PathEscapesRoot(f"{value!r} is absolute")
                rel = safe_relpath(self.index.ctx.data_root, joined)
            except PathEscapesRoot as e:
                raise Bad("path-escapes-root", str(e)) from None
            if not is_file(self.index.ctx.data_root / rel):
                raise Bad("missing-image", f"image file {rel} not found")
            return rel
        if self.regex is not None:
            m = self.regex.fullmatch(value)
            if m is None:
                raise Bad("missing-image", f"{value[:200]!r} does not match image_regex {self.regex.pattern!r}")
            values = {k: v for k, v in m.groupdict().items() if v is not None}
        else:
            values = {"image": value}
        if any(n not in values for n in self.pattern.names):
            raise Bad("missing-image", f"{value[:200]!r} gives no value for {list(self.pattern.names)}")
        hits = self._keys().get(key_of(values, self.pattern.names), [])
        if not hits:
            raise Bad("missing-image", f"no file matches {self.pattern.text!r} for {value[:200]!r}")
        if len(hits) > 1:
            raise Bad("ambiguous-image", f"{len(hits)} files match {self.pattern.text!r} for {value[:200]!r}: "
                                         f"{hits[:3]}")
        try:
            return self.index.safe(hits[0])
        except PathEscapesRoot as e:
            raise Bad("path-escapes-root", str(e)) from None


@dataclass
class Pair:
    """One image and the annotation files that share its placeholder values."""

    rel: str
    values: dict[str, str]
    split: str | None
    files: dict[str, list[str]]  # annotation kind -> files (relative to the data root)


def pair_files(ctx: ReaderContext, root_rel: str, image_pattern: str, others: dict[str, list[str]],
               ignore: frozenset[str] = frozenset()) -> tuple[list[Pair], list]:
    """Images matched to their annotation files by pattern, and the skips of what does not pair.

    ``others`` maps an annotation kind to its patterns (each with some of the image
    pattern's placeholders: RIM-ONE's masks are not in split folders, its images are). A file an annotation pattern matches is never an image; files in
    ``ignore`` (relative to the data root: a class list) are neither. Returns the
    pairs (sorted by image path) and skips: 'missing-image' for an annotation file whose
    image is not there, 'ambiguous-image' for images sharing their placeholder values,
    'unknown-split', 'path-escapes-root'."""
    from medmat.sources._common import normalize_split

    index = FileIndex(ctx, root_rel)
    image = FilePattern.parse(image_pattern)
    annots: list[tuple[str, FilePattern, dict[tuple[str, ...], list[str]]]] = []
    taken: set[str] = set()
    for kind, texts in others.items():
        for text in texts:
            pat = FilePattern.parse(text)
            if not set(pat.names) <= set(image.names):
                raise SourceError(f"dataset {ctx.dataset_id}: pattern {text!r} may only use placeholders of "
                                  f"{image_pattern!r} ({sorted(image.names)}), has {sorted(pat.names)}")
            by_key: dict[tuple[str, ...], list[str]] = {}
            for rel, values in index.matches(pat):
                if rel not in ignore:
                    by_key.setdefault(key_of(values, pat.names), []).append(rel)
                    taken.add(rel)
            annots.append((kind, pat, by_key))
    images: dict[tuple[str, ...], list[tuple[str, dict[str, str]]]] = {}
    for rel, values in index.matches(image):
        if rel not in taken and rel not in ignore:
            images.setdefault(key_of(values, image.names), []).append((rel, values))
    pairs, skips = [], []
    used: set[tuple[int, tuple[str, ...]]] = set()  # (annotation pattern, key) some image claims
    for key, found in images.items():
        for i, (_, pat, _) in enumerate(annots):
            used.add((i, key_of(found[0][1], pat.names)))
        if len(found) > 1:
            skips += [ctx.skip(rel, "ambiguous-image", f"{len(found)} images share the placeholder values {values}")
                      for rel, values in found]
            continue
        rel, values = found[0]
        files: dict[str, list[str]] = {}
        try:
            rel = index.safe(rel)
            for kind, pat, by_key in annots:
                files.setdefault(kind, []).extend(index.safe(f) for f in by_key.get(key_of(values, pat.names), []))
        except PathEscapesRoot as e:
            skips.append(ctx.skip(rel, "path-escapes-root", str(e)))
            continue
        try:
            split = normalize_split(values["split"]) if "split" in values else None
        except KeyError:
            skips.append(ctx.skip(rel, "unknown-split", f"split folder value {values['split']!r}"))
            continue
        pairs.append(Pair(rel, values, split, {k: sorted(v) for k, v in files.items()}))
    for i, (kind, _, by_key) in enumerate(annots):
        for key, found_files in by_key.items():
            if (i, key) not in used:
                skips += [ctx.skip(f, "missing-image", f"no image matches {image_pattern!r} for this {kind} file")
                          for f in sorted(found_files)]
    return sorted(pairs, key=lambda p: p.rel), sorted(skips, key=lambda s: (s.path, s.reason))
