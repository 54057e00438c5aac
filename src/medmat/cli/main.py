"""Entry point: discovers every ``medmat.cli.<module>.register`` and builds one typer app."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import medmat
import medmat.cli as _cli_pkg

app = typer.Typer(
    name="medmat",
    help="Med-MAT as software: catalog, build VQA, plan, train, evaluate and report "
    "compositional-generalization studies on medical images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(medmat.__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """medmat command line."""


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(_cli_pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name == "main":
            continue
        module = importlib.import_module(f"medmat.cli.{mod.name}")
        register = getattr(module, "register", None)
        if register is None:
            raise RuntimeError(f"medmat.cli.{mod.name} has no register(app) function")
        register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
