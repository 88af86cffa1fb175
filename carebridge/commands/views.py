"""`carebridge views`: the SQL on FHIR view runner on its own.

    carebridge views test-suite DIR --report FILE [--engine duckdb|postgresql|spark|reference] [--database-url URL]

`test-suite` runs every `*.json` file of a SQL on FHIR v2 test directory and writes the suite's
report format (`{file: {tests: [{name, result: {passed, reason?}}]}}`), so the runner can be listed
beside other implementations; it exits 1 when a test fails. `carebridge views bench` (rows per second of the project's views
per engine) is a development tool: carebridge.benchmarks registers it here through its entry point.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["register"]

_PG_ENV = "CAREBRIDGE_PG_URL"


def _test_suite(args: argparse.Namespace) -> int:
    from warehouse.viewdef.suite import run_suite, summary, to_report

    if not args.directory.is_dir():
        print(f"carebridge: no such directory: {args.directory}", file=sys.stderr)
        return 2
    if args.engine == "postgresql" and not args.database_url:
        print(f"carebridge: --engine postgresql needs --database-url (or {_PG_ENV})", file=sys.stderr)
        return 2
    results = run_suite(args.directory, args.engine, args.database_url)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(to_report(results), indent=2) + "\n", encoding="utf-8")
    counts = summary(results)
    print(f"{args.engine}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
          f"({len(results)} files); report written to {args.report}")
    for name, entry in results.items():
        for test in entry["tests"]:
            result = test["result"]
            if not result["passed"] and not result.get("skipped"):
                print(f"  FAILED {name} :: {test['name']}: {result.get('reason', '')[:200]}")
    return 1 if counts["failed"] else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    views = subparsers.add_parser("views", help="the SQL on FHIR view runner: conformance suite, benchmark")
    commands = views.add_subparsers(dest="views_command", required=True)

    suite = commands.add_parser("test-suite", help="run a SQL on FHIR v2 test directory and write the suite report")
    suite.add_argument("directory", type=Path, help="folder of SQL on FHIR test files (*.json)")
    suite.add_argument("--report", type=Path, required=True, help="where to write the JSON report")
    suite.add_argument("--engine", choices=("duckdb", "postgresql", "spark", "reference"), default="duckdb",
                       help="spark: a throwaway local[2] warehouse folder per file (needs the spark extra and Java)")
    suite.add_argument("--database-url", default=os.environ.get(_PG_ENV, ""),
                       help=f"PostgreSQL URL for --engine postgresql (env {_PG_ENV}); a throwaway schema is used")
    suite.set_defaults(func=_test_suite)
