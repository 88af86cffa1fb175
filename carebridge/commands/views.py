"""`carebridge views`: the SQL on FHIR view runner on its own.

    carebridge views test-suite DIR --report FILE [--engine duckdb|postgresql|reference] [--database-url URL]
    carebridge views bench [--persons N] [--out DIR] [--fhirpathpy-sample N] [--database-url URL] [--reuse]

`test-suite` runs every `*.json` file of a SQL on FHIR v2 test directory and writes the suite's
report format (`{file: {tests: [{name, result: {passed, reason?}}]}}`), so the runner can be listed
beside other implementations; it exits 1 when a test fails. `bench` measures rows per second of the
project's views per engine, compiled (load and query timed apart) against per-resource interpreters
on the same NDJSON files (benchmarks/views.py).
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


def _bench(args: argparse.Namespace) -> int:
    from carebridge.benchmarks.views import print_report, run

    result = run(args.persons, args.out, seed=args.seed, fhirpathpy_sample=args.fhirpathpy_sample or None,
                 pg_url=args.database_url or None, reuse=args.reuse)
    print_report(result)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    views = subparsers.add_parser("views", help="the SQL on FHIR view runner: conformance suite, benchmark")
    commands = views.add_subparsers(dest="views_command", required=True)

    suite = commands.add_parser("test-suite", help="run a SQL on FHIR v2 test directory and write the suite report")
    suite.add_argument("directory", type=Path, help="folder of SQL on FHIR test files (*.json)")
    suite.add_argument("--report", type=Path, required=True, help="where to write the JSON report")
    suite.add_argument("--engine", choices=("duckdb", "postgresql", "reference"), default="duckdb")
    suite.add_argument("--database-url", default=os.environ.get(_PG_ENV, ""),
                       help=f"PostgreSQL URL for --engine postgresql (env {_PG_ENV}); a throwaway schema is used")
    suite.set_defaults(func=_test_suite)

    bench = commands.add_parser("bench", help="rows per second of the project's views: compiled vs interpreted")
    bench.add_argument("--persons", type=int, default=100_000)
    bench.add_argument("--out", type=Path, default=Path("out/bench_views"))
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--fhirpathpy-sample", type=int, default=0,
                       help="resources per view for the per-resource interpreters: the first N lines of the "
                            "view's NDJSON file (default 0: all of them, the same data as the compiled path)")
    bench.add_argument("--database-url", default=os.environ.get(_PG_ENV, ""),
                       help=f"also measure compiled PostgreSQL there (env {_PG_ENV}); a throwaway schema is used")
    bench.add_argument("--reuse", action="store_true",
                       help="measure the FHIR export a previous bench left in --out instead of building it again")
    bench.set_defaults(func=_bench)
