"""`carebridge bench` and `carebridge views bench`, registered through the `carebridge.commands` entry point."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from carebridge.commands import subcommands
from carebridge.core.settings import ENGINES

__all__ = ["register"]

_PG_ENV = "CAREBRIDGE_PG_URL"


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.incremental:
        from carebridge.benchmarks.incremental import run_incremental_benchmark

        return run_incremental_benchmark(args.persons, args.out, seed=args.seed, fault_rate=args.fault_rate,
                                         engine=args.engine, reuse_landing=args.reuse)
    from carebridge.benchmarks.pipeline import run_benchmark

    return run_benchmark(args.persons, args.out, seed=args.seed, fault_rate=args.fault_rate, engine=args.engine)


def _cmd_views_bench(args: argparse.Namespace) -> int:
    from carebridge.benchmarks.views import print_report, run

    result = run(args.persons, args.out, seed=args.seed, fhirpathpy_sample=args.fhirpathpy_sample or None,
                 pg_url=args.database_url or None, reuse=args.reuse)
    print_report(result)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="generate N persons and measure time and peak memory per stage")
    bench.add_argument("--persons", type=int, default=5000)
    bench.add_argument("--out", type=Path, default=Path("out/bench"))
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--fault-rate", type=float, default=0.02)
    bench.add_argument("--engine", choices=ENGINES, default="duckdb",
                       help="the warehouse engine: duckdb (a file in --out) or spark (Spark local, master from "
                            "CAREBRIDGE_SPARK_MASTER, default local[2]; the Python stages on its executors)")
    bench.add_argument("--incremental", action="store_true",
                       help="build 12 months, re-run with nothing new, add a 13th month: each run's time per "
                            "stage and its share of the full build")
    bench.add_argument("--reuse", action="store_true",
                       help="with --incremental: reuse the landing area a previous run generated in --out")
    bench.set_defaults(func=_cmd_bench)

    views = subcommands(subparsers, "views").add_parser(
        "bench", help="rows per second of the project's views: compiled vs interpreted")
    views.add_argument("--persons", type=int, default=100_000)
    views.add_argument("--out", type=Path, default=Path("out/bench_views"))
    views.add_argument("--seed", type=int, default=42)
    views.add_argument("--fhirpathpy-sample", type=int, default=0,
                       help="resources per view for the per-resource interpreters: the first N lines of the "
                            "view's NDJSON file (default 0: all of them, the same data as the compiled path)")
    views.add_argument("--database-url", default=os.environ.get(_PG_ENV, ""),
                       help=f"also measure compiled PostgreSQL there (env {_PG_ENV}); a throwaway schema is used")
    views.add_argument("--reuse", action="store_true",
                       help="measure the FHIR export a previous bench left in --out instead of building it again")
    views.set_defaults(func=_cmd_views_bench)
