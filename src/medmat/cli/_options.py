"""Command-line flags derived from a stage's config class (TRL's HfArgumentParser habit).

``@config_flags(TrainConfig, dest="train_flags")`` adds one option per field to a typer
command: the flag is the field name with dashes (``max_steps`` -> ``--max-steps``), its
help is the field's description and default, booleans get ``--x/--no-x``, lists are
repeatable and comma-separated, and ``dict`` fields take ``KEY=VALUE`` pairs. The command
receives the values under ``dest`` as ``{field: value}``, None for a flag not given, and
hands them to ``medmat.config.resolve_config`` as the top layer. So a field is declared,
documented and defaulted once, and its flag cannot drift from it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any, Callable, Literal, Optional

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from medmat.cli._common import fail
from medmat.config import ConfigError, parse_assignments


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return ""
    else:
        value = field.default
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return f" [default: {value}]"


def _kind(annotation: Any) -> tuple[str, Any, tuple[str, ...]]:
    """(kind, python type, choices) of a field annotation; kind in scalar/bool/list/dict/skip."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _kind(args[0])
    if annotation is bool:
        return "bool", bool, ()
    if origin is Literal:
        return "scalar", str, tuple(map(str, typing.get_args(annotation)))
    if annotation in (int, float, str):
        return "scalar", annotation, ()
    if origin is list and typing.get_args(annotation) and typing.get_args(annotation)[0] in (int, str):
        return "list", typing.get_args(annotation)[0], ()
    if origin is dict:
        return "dict", dict, ()
    return "skip", None, ()


def config_flags(cls: type[BaseModel], dest: str, *, only: tuple[str, ...] | None = None,
                 exclude: tuple[str, ...] = (), names: dict[str, list[str]] | None = None,
                 aliases: dict[str, list[str]] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command with one flag per field of ``cls`` (see the module docstring).

    ``names`` replaces a field's flag names, ``aliases`` adds older names beside it.
    """
    names, aliases = names or {}, aliases or {}
    specs: list[tuple[str, str, Any, inspect.Parameter]] = []
    for fname, field in cls.model_fields.items():
        if (only is not None and fname not in only) or fname in exclude:
            continue
        kind, typ, choices = _kind(field.annotation)
        if kind == "skip":
            continue
        flags = names.get(fname, [_flag(fname)]) + aliases.get(fname, [])
        help_text = (field.description or "") + (f" One of: {', '.join(choices)}." if choices else "")
        if kind == "dict":
            help_text += " (KEY=VALUE, repeatable)"
        elif kind == "list":
            help_text += " (repeatable or comma-separated)"
        help_text += _default_text(field)
        if kind == "bool":
            primary = flags[0]
            decls = [f"{primary}/--no-{primary[2:]}", *flags[1:]]
            ann: Any = Optional[bool]
        else:
            decls = flags
            ann = Optional[list[str]] if kind in ("list", "dict") else Optional[typ]
        param = inspect.Parameter(f"{dest}__{fname}", inspect.Parameter.KEYWORD_ONLY, annotation=ann,
                                  default=typer.Option(None, *decls, help=help_text, show_default=False))
        specs.append((fname, kind, typ, param))

    def convert(fname: str, kind: str, typ: Any, value: Any) -> Any:
        if value is None or (kind in ("list", "dict") and not value):
            return None
        if kind == "list":
            parts = [v.strip() for raw in value for v in str(raw).split(",") if v.strip()]
            try:
                return [typ(p) for p in parts]
            except ValueError:
                raise fail(f"{_flag(fname)} takes {typ.__name__} values, got {', '.join(value)}") from None
        if kind == "dict":
            try:
                return parse_assignments(list(value), names.get(fname, [_flag(fname)])[0])
            except ConfigError as e:
                raise fail(str(e)) from None
        return value

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)  # the command's own annotations, resolved in its module
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
               if p.name != dest]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {fname: convert(fname, kind, typ, kwargs.pop(param.name))
                      for fname, kind, typ, param in specs}
            return fn(**kwargs, **{dest: values})

        params = own + [p for *_, p in specs]
        params.sort(key=lambda p: p.kind)  # keyword-only after the rest
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must see the new signature, not fn's
        return wrapper

    return deco
