"""`carebridge ask NAME`: answer one of the ten questions of the output contract.

The warehouse is opened read-only (DuckDB `access_mode=read_only`, PostgreSQL read-only
transactions), so asking never changes or creates anything: a DuckDB file that is not there is
reported, not created. A warehouse a run is writing to, or one that cannot be reached, is said in
one line on stderr (exit 1). The answer is printed as a table, CSV or JSON, to stdout or `--output`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

from carebridge.core.settings import env_warehouse_url

__all__ = ["register", "render", "open_failure"]

FORMATS = ("table", "csv", "json")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _table(rows: list[dict], columns: list[str], limit: int | None) -> str:
    shown = rows if limit is None else rows[:limit]
    cells = [[_cell(row[c]) for c in columns] for row in shown]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths))  # noqa: E731
    hidden = len(rows) - len(shown)
    more = [f"... {hidden} more rows (--limit, or --format csv|json for all)"] if hidden else []
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells), *more])


def _json_value(value: object) -> object:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # dates and the like, as ISO text


def render(rows: list[dict], columns: list[str], fmt: str, limit: int | None = None) -> str:
    """An answer's rows as `table` (fixed width, first `limit` rows), `csv` or `json` (every row)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if row[c] is None else row[c] for c in columns] for row in rows])
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps([{c: _json_value(row[c]) for c in columns} for row in rows], indent=1) + "\n"
    return _table(rows, columns, limit)


def open_failure(error: BaseException, where: str) -> str:
    """One line saying why the warehouse could not be read (the driver's first line kept as the detail)."""
    text = str(getattr(error, "orig", None) or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    lowered = text.lower()
    if "lock" in lowered:
        return f"the warehouse at {where} is locked by a running pipeline: ask again when the run has finished ({first})"
    if "does not exist" in lowered and ("table" in lowered or "relation" in lowered or "schema" in lowered):
        return f"the warehouse at {where} has no analytics tables yet: run the pipeline first ({first})"
    return f"cannot read the warehouse at {where}: {first}"


def _ask(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from carebridge.core.settings import default_warehouse_url
    from warehouse.db import duckdb_path, make_engine
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
    url = args.warehouse or default_warehouse_url(args.out)
    where = sa.make_url(url).render_as_string(hide_password=True) if "://" in url else url
    path = duckdb_path(url)
    if path is not None and not path.is_file():
        print(f"carebridge: no warehouse at {path}: run the pipeline first (`carebridge demo` or `carebridge run`), "
              "or give --out / --warehouse", file=sys.stderr)
        return 1
    engine = make_engine(url, read_only=True)
    try:
        table = ask(engine, question.name)
    except Exception as error:  # noqa: BLE001 (a driver's error becomes the one line the user reads)
        print(f"carebridge: {open_failure(error, str(path or where))}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    rows, columns = table.to_pylist(), table.column_names
    text = render(rows, columns, args.format, limit=None if args.output else args.limit)
    if args.format == "table":
        text = f"{question.title}\n\n{text}\n\n{question.reading}\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{question.name}: {len(rows)} rows written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ask", help="answer one of the ten questions (`carebridge ask list` lists them)")
    parser.add_argument("name", nargs="?", help="question name or number, e.g. q03 or q03_wait_to_second_contact")
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder of a run (its warehouse.duckdb)")
    parser.add_argument("--warehouse", default=env_warehouse_url(),
                        help="SQLAlchemy URL of the warehouse (default: the run's DuckDB file); opened read-only")
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    parser.add_argument("--output", type=Path, help="write the answer to this file instead of printing it")
    parser.add_argument("--limit", type=int, default=40, help="rows to print as a table (csv, json and --output: all)")
    parser.set_defaults(func=_ask)
