"""`carebridge ask NAME`: answer one of the ten questions of the output contract as a table."""

from __future__ import annotations

import argparse
from carebridge.core.settings import env_warehouse_url
import sys
from pathlib import Path

__all__ = ["register"]


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _format(table, limit: int) -> str:
    rows = table.slice(0, limit).to_pylist()
    columns = table.column_names
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths))  # noqa: E731
    more = [f"... {table.num_rows - limit} more rows"] if table.num_rows > limit else []
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells), *more])


def _ask(args: argparse.Namespace) -> int:
    from carebridge.core.settings import default_warehouse_url
    from warehouse.db import make_engine
    from warehouse.questions import ask, get_question, list_questions

    if args.name in (None, "list"):
        for question in list_questions():
            print(f"{question.name:<34} {question.title}")
        return 0
    try:
        question = get_question(args.name)
    except KeyError:
        print(f"carebridge: no question named {args.name!r} (see `carebridge ask list`)", file=sys.stderr)
        return 2
    engine = make_engine(args.warehouse or default_warehouse_url(args.out))
    try:
        table = ask(engine, question.name)
    finally:
        engine.dispose()
    print(f"{question.title}\n\n{_format(table, args.limit)}\n\n{question.reading}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ask", help="answer one of the ten questions (`carebridge ask list` lists them)")
    parser.add_argument("name", nargs="?", help="question name or number, e.g. q03 or q03_wait_to_second_contact")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of a run (its warehouse.duckdb)")
    parser.add_argument("--warehouse", default=env_warehouse_url())
    parser.add_argument("--limit", type=int, default=40, help="rows to print")
    parser.set_defaults(func=_ask)
