"""`carebridge report --out DIR`: the static HTML report, from the `published` tables of a run."""

from __future__ import annotations

import argparse
from carebridge.core.settings import env_warehouse_url
import sys
from pathlib import Path

__all__ = ["register"]


def _report(args: argparse.Namespace) -> int:
    from carebridge.report import build_report
    from carebridge.core.settings import default_warehouse_url
    from warehouse.db import make_engine

    url = args.warehouse or default_warehouse_url(args.run)
    if url.startswith("duckdb:") and not Path(url.split("///", 1)[-1]).exists():
        print(f"carebridge: no warehouse at {url}: run the pipeline first (`carebridge demo` or `carebridge run`)",
              file=sys.stderr)
        return 1
    engine = make_engine(url)
    try:
        index = build_report(engine, args.out, data_docs=args.run / "data_docs" / "index.html")
    finally:
        engine.dispose()
    print(f"report: {index}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="write the static HTML report from the published tables")
    parser.add_argument("--out", type=Path, default=Path("out") / "report", help="folder to write index.html to")
    parser.add_argument("--run", type=Path, default=Path("out"),
                        help="output folder of a run (its warehouse.duckdb and data_docs/)")
    parser.add_argument("--warehouse", default=env_warehouse_url(),
                        help="SQLAlchemy URL of the warehouse (default: the run's DuckDB file)")
    parser.set_defaults(func=_report)
