"""Further `carebridge` sub-commands, one module each.

A module here defines `register(subparsers) -> None`, adding its parser with
`set_defaults(func=<callable taking the parsed args, returning an exit code>)`. The CLI loads every
module of this package, so a new command needs no edit elsewhere.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

__all__ = ["register_all"]


def register_all(subparsers: argparse._SubParsersAction) -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
