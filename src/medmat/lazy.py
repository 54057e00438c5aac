"""Lazy package exports (PEP 562), so importing a package's config module stays cheap.

A package ``__init__`` that re-exported every public name from its submodules would
import all of them (numpy, the store, the planner ...) whenever anyone imports one small
submodule, such as a stage's config class that the CLI needs to build its flags. With
``__getattr__, __dir__ = lazy_exports(__name__, {"name": "submodule", ...})`` a name is
imported from its submodule on first use instead.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``names`` maps each exported name to the submodule (relative to ``package``, or an
    absolute ``medmat.`` module) defining it."""

    def __getattr__(name: str) -> Any:
        sub = names.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = sub if sub.startswith("medmat.") else f"{package}.{sub}"
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
