"""Mutations of the text formats medmat reads: label tables, released Med-MAT json, catalog
YAML (see ``fuzz_mutate`` for the contract).

Tables are mutated by line and cell (dropped, duplicated, swapped, odd values: paths that
leave the root, NUL bytes, quotes, huge cells, wrong delimiters, invalid UTF-8). JSON and
YAML are parsed, a random node of the tree is replaced, removed, duplicated or re-typed,
and the tree is written again; or the text is nested deeply, or mutated as bytes.
"""

from __future__ import annotations

import json
import random

from helpers.fuzz_mutate import GENERIC, Mutator, bitflip

ODD_VALUES = ("", " ", "../../etc/passwd", "/etc/passwd", "a\x00b", '"', 'x"y', "\r", "x" * 100_000, "é\u202e",
              "NaN", "-1", "1", "yes", "maybe", "imgs/a.png", "imgs", ".", "C:\\x.png", "\\\\server\\x", "~/x",
              "imgs/../imgs/a.png", "train", "TEST", "holdout", "Normal|", "|||", "\t")
ODD_NODES = (None, True, 0, -1, 2 ** 64, 10 ** 400, 1e308, "", "x" * 10_000, [], {}, "../../etc/passwd",
             "/abs.png", "a\x00b.png", "é", ["a", "b"], {"k": "v"}, 3.5, "A", "Z", "\n", "B: Cyst")


# -- tables --------------------------------------------------------------------------------
def table_lines(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    text = data.decode("utf-8", "replace")
    lines = text.splitlines(keepends=True) or [""]
    delim = "\t" if "\t" in lines[0] else ","
    op = rng.choice(("drop", "dup", "swap", "cell", "add-cell", "remove-cell", "delim", "bom", "bytes", "blank",
                     "wide", "header-dup", "many-rows"))
    i = rng.randrange(len(lines))
    if op == "drop":
        del lines[i]
    elif op == "dup":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op in ("cell", "add-cell", "remove-cell", "header-dup"):
        cells = lines[i].rstrip("\r\n").split(delim)
        k = rng.randrange(len(cells))
        if op == "cell":
            cells[k] = rng.choice(ODD_VALUES)
        elif op == "add-cell":
            cells.insert(k, rng.choice(ODD_VALUES))
        elif op == "remove-cell":
            del cells[k]
        else:
            cells.append(cells[k])
        lines[i] = delim.join(cells) + "\n"
    elif op == "delim":
        lines[i] = lines[i].replace(delim, rng.choice((";", "|", "\t", ",", " ", '","')))
    elif op == "bom":
        lines[0] = "\ufeff" + lines[0]
    elif op == "blank":
        lines.insert(i, rng.choice(("\n", "\r\n", " \n", delim * 3 + "\n")))
    elif op == "wide":
        lines[i] = lines[i].rstrip("\n") + (delim + "x") * rng.choice((10, 1000)) + "\n"
    elif op == "many-rows":
        lines += lines[1:] * rng.choice((2, 50))
    else:
        raw = "".join(lines).encode()
        return raw[:i] + bytes([rng.choice((0x80, 0xFF, 0xC3, 0x00))]) + raw[i:], f"table-bytes@{i}"
    return "".join(lines).encode("utf-8"), f"table-{op}#{i}"


# -- JSON / YAML trees ---------------------------------------------------------------------
def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _tree_op(rng: random.Random, tree):
    """Mutate a parsed tree in place (or replace it); returns (tree, description)."""
    paths = list(_paths(tree))
    path = rng.choice(paths)
    op = rng.choice(("set", "set", "delete", "dup", "rename", "wrap", "shuffle"))
    if not path:
        return (rng.choice(ODD_NODES) if op == "set" else [tree, tree] if op == "dup" else {"x": tree}), f"root-{op}"
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "set":
        parent[last] = rng.choice(ODD_NODES)
    elif op == "delete":
        del parent[last]
    elif op == "dup" and isinstance(parent, list):
        parent.insert(last, json.loads(json.dumps(parent[last])))
    elif op == "rename" and isinstance(parent, dict):
        parent[str(last).upper() if rng.random() < 0.5 else str(last) + "_"] = parent.pop(last)
    elif op == "wrap":
        parent[last] = [parent[last]] if rng.random() < 0.5 else {"value": parent[last]}
    elif op == "shuffle" and isinstance(parent[last], list):
        rng.shuffle(parent[last])
    return tree, f"{op}:{'/'.join(map(str, path))}"[:120]


def json_tree(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    try:
        tree = json.loads(data)
    except ValueError:
        return bitflip(rng, data, other)
    tree, how = _tree_op(rng, tree)
    return json.dumps(tree, allow_nan=True).encode(), f"json-{how}"


def deep_nesting(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    depth = rng.choice((100, 5_000, 100_000))
    opener, closer = rng.choice((("[", "]"), ("{\"a\":", "}"), ("- ", "")))
    if opener == "- ":  # YAML block sequence, each level indented
        body = "".join("  " * i + "-\n" for i in range(min(depth, 3000)))
        return body.encode(), f"deep-yaml-{min(depth, 3000)}"
    return (opener * depth + "1" + closer * depth).encode(), f"deep-{opener}{depth}"


def yaml_tree(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    import yaml

    try:
        tree = yaml.safe_load(data)
    except yaml.YAMLError:
        return bitflip(rng, data, other)
    tree, how = _tree_op(rng, tree)
    try:
        return yaml.safe_dump(tree, sort_keys=False, allow_unicode=rng.random() < 0.5).encode(), f"yaml-{how}"
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        return data, "yaml-unwritable"


def yaml_text(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, str]:
    """Line-level damage YAML is sensitive to: indentation, tabs, anchors, tags, duplicate keys."""
    lines = data.decode("utf-8", "replace").splitlines(keepends=True) or [""]
    i = rng.randrange(len(lines))
    op = rng.choice(("indent", "tab", "anchor", "tag", "dup", "drop", "colon", "bomb", "bytes"))
    if op == "indent":
        lines[i] = " " * rng.choice((1, 3, 7)) + lines[i]
    elif op == "tab":
        lines[i] = "\t" + lines[i].lstrip(" ")
    elif op == "anchor":
        lines.insert(i, "x: &a [1, 2]\ny: *a\nz: *nope\n")
    elif op == "tag":
        lines[i] = lines[i].rstrip("\n") + rng.choice((" !!python/object:os.system", " !!binary x", " !!int x", " !!set")) + "\n"
    elif op == "dup":
        lines.insert(i, lines[i])
    elif op == "drop":
        del lines[i]
    elif op == "colon":
        lines[i] = lines[i].replace(":", rng.choice(("", "::", ": :", ": {")), 1)
    elif op == "bomb":
        levels = ["a0: &a0 [x, x, x, x, x, x]"] + [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 6)}]" for k in range(1, 7)]
        lines.insert(0, "\n".join(levels) + "\n")
    else:
        raw = "".join(lines).encode()
        return raw[:i] + b"\xff\xfe" + raw[i:], f"yaml-bytes@{i}"
    return "".join(lines).encode("utf-8"), f"yaml-{op}#{i}"


TEXT: dict[str, list[tuple[int, Mutator]]] = {
    "table": GENERIC + [(20, table_lines)],
    "medmat-json": GENERIC + [(20, json_tree), (2, deep_nesting)],
    "catalog-yaml": GENERIC + [(12, yaml_tree), (10, yaml_text), (2, deep_nesting)],
}
