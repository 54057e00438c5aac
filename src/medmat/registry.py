"""One small registry type for every extension point (readers, exporters, backbones ...).

Registered things are looked up by name; an unknown name raises an error that lists the
closest registered names. Tests iterate over registries so every entry is exercised.

An entry may be lazy (lm-evaluation-harness and timm do this): ``add_lazy(name,
"package.module:Object")`` names where the object lives, and the module is imported only
when ``get(name)`` asks for it. So listing the names (``medmat --help``, did-you-mean
errors) imports nothing heavy, and a registry can name things whose modules need torch.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    def __init__(self, what: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        self.message = f"unknown {what} {name!r}{hint} (known: {', '.join(sorted(known))})"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return self.message


def resolve_ref(ref: str) -> object:
    """``"package.module:Object.attr"`` -> the object (imports the module)."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"a lazy registry entry is 'module:Object', got {ref!r}")
    obj: object = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj, replace=replace)
            return obj

        return deco

    def add(self, name: str, obj: T, *, replace: bool = False) -> None:
        if name in self and not replace:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._lazy.pop(name, None)
        self._items[name] = obj

    def add_lazy(self, name: str, ref: str, *, replace: bool = False) -> None:
        """Register ``name`` as ``"module:Object"``, imported on first ``get``."""
        if name in self and not replace:
            raise ValueError(f"{self.what} {name!r} is already registered")
        if ":" not in ref:
            raise ValueError(f"a lazy {self.what} is 'module:Object', got {ref!r}")
        self._items.pop(name, None)
        self._lazy[name] = ref

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        ref = self._lazy.get(name)
        if ref is None:
            raise UnknownNameError(self.what, name, self.names()) from None
        obj = resolve_ref(ref)
        self._items[name] = obj  # type: ignore[assignment]
        del self._lazy[name]
        return obj  # type: ignore[return-value]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted({*self._items, *self._lazy})

    def items(self) -> list[tuple[str, T]]:
        """Every entry, lazy ones resolved (imports their modules)."""
        return [(name, self.get(name)) for name in self.names()]
