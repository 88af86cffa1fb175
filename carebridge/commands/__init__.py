"""Further `carebridge` sub-commands.

A module of this package defines `register(subparsers) -> None`, adding its parser with
`set_defaults(func=<callable taking the parsed args, returning an exit code>)`. The CLI loads every
module of this package, so a new command needs no edit elsewhere.

Packages that build on carebridge (the development tools `carebridge.synthetic` and
`carebridge.benchmarks`) add commands the same way through the `carebridge.commands` entry point
group (pyproject.toml), loaded after this package's own commands: the product never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from importlib.metadata import entry_points

__all__ = ["ENTRY_POINT_GROUP", "register_all", "subcommands"]

ENTRY_POINT_GROUP = "carebridge.commands"


def register_all(subparsers: argparse._SubParsersAction) -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        entry.load()(subparsers)


def subcommands(subparsers: argparse._SubParsersAction, command: str) -> argparse._SubParsersAction:
    """The sub-commands of `command` (e.g. `views`), so a plugin can add one beside the product's."""
    parser = subparsers.choices[command]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
