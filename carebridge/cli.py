"""The `carebridge` command: generate a synthetic system, run the pipeline, open the UI, benchmark."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

DEFAULT_MONTHS = "2025-04..2026-03"


def _months(value: str) -> tuple[str, str]:
    start, sep, end = value.partition("..")
    if not sep or len(start) != 7 or len(end) != 7 or start > end:
        raise argparse.ArgumentTypeError("months must look like YYYY-MM..YYYY-MM")
    return start, end


def _cmd_generate(args: argparse.Namespace) -> int:
    from carebridge.synthetic import default_truth_dir, generate

    truth = args.truth or default_truth_dir(args.landing)
    summary = generate(args.persons, args.landing, truth, seed=args.seed, months=args.months, fault_rate=args.fault_rate)
    print(f"wrote a synthetic system of {args.persons:,} people to {args.landing} (ground truth in {truth})")
    print(summary)
    return 0


def _print_outcome(outcome) -> None:
    print()
    print(f"months staged   : {outcome.months[0]} .. {outcome.months[-1]} ({len(outcome.months)})")
    print(f"quarantined rows: {outcome.rows_quarantined:,} (see identifiable.quarantine); files rejected: {outcome.files_rejected}")
    if outcome.warnings:
        print(f"warnings        : {len(outcome.warnings)} checks with warnings ({', '.join(outcome.warnings[:5])}...)")
    print(f"warehouse       : {outcome.warehouse_url}")
    print(f"FHIR output     : {outcome.out / 'fhir'} (ndjson/ and bundles/)")
    print(f"Data Docs       : {outcome.out / 'data_docs' / 'index.html'}")
    print(f"Report          : {outcome.out / 'report' / 'index.html'}")


def _run(landing: Path, out: Path, warehouse: str, key_file: Path | None, strict: bool = False) -> int:
    from carebridge.core.keys import KeyFileError, default_key_path, ensure_key
    from carebridge.runner import PipelineError, run_pipeline

    key_path = key_file or default_key_path()
    try:
        if ensure_key(key_path, out):
            print(f"warning: there was no pseudonymisation key at {key_path}; created a new one there. "
                  "Keep it safe and out of the repository and the output folder: person_key values depend on it.",
                  file=sys.stderr)
    except KeyFileError as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    try:
        outcome = run_pipeline(landing, out, warehouse_url=warehouse, key_file=key_file, reporter=print, strict=strict)
    except PipelineError as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    _print_outcome(outcome)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    return _run(args.landing, args.out, args.warehouse, args.key_file, args.strict)


def _cmd_demo(args: argparse.Namespace) -> int:
    from carebridge.synthetic import generate

    landing, truth = args.out / "landing", args.out / "truth"
    print(f"generating a synthetic integrated care system of {args.persons:,} people into {landing} ...")
    generate(args.persons, landing, truth, seed=args.seed, months=args.months, fault_rate=args.fault_rate)
    return _run(landing, args.out, args.warehouse, args.key_file, args.strict)


def _cmd_ui(args: argparse.Namespace) -> int:
    env = {**os.environ, "CAREBRIDGE_LANDING": str(args.landing.resolve()), "CAREBRIDGE_OUT": str(args.out.resolve())}
    if args.warehouse:
        env["CAREBRIDGE_WAREHOUSE_URL"] = args.warehouse
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.call([str(dagster), "dev", "-m", "pipelines"], env=env)


def _cmd_bench(args: argparse.Namespace) -> int:
    from carebridge.benchmarks.pipeline import run_benchmark

    return run_benchmark(args.persons, args.out, seed=args.seed, fault_rate=args.fault_rate)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    warehouse_help = "SQLAlchemy URL of the warehouse (default: DuckDB file in the output folder; env CAREBRIDGE_WAREHOUSE_URL)"
    env_url = os.environ.get("CAREBRIDGE_WAREHOUSE_URL", "")
    strict_help = ("validate every FHIR resource with the fhir.resources R4B models instead of the compiled "
                   "validator (slower; same report and blocking check)")

    gen = sub.add_parser("generate", help="write a synthetic integrated care system to a landing area")
    gen.add_argument("--persons", type=int, required=True)
    gen.add_argument("--landing", type=Path, required=True)
    gen.add_argument("--truth", type=Path, default=None, help="ground-truth folder (default: beside the landing area)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--months", type=_months, default=_months(DEFAULT_MONTHS))
    gen.add_argument("--fault-rate", type=float, default=0.0)
    gen.set_defaults(func=_cmd_generate)

    run = sub.add_parser("run", help="run the pipeline over a landing area")
    run.add_argument("--landing", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--warehouse", default=env_url, help=warehouse_help)
    run.add_argument("--key-file", type=Path, default=None, help="pseudonymisation key file (env CAREBRIDGE_KEY_FILE)")
    run.add_argument("--strict", action="store_true", help=strict_help)
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="generate a synthetic system and run everything on it")
    demo.add_argument("--persons", type=int, default=5000)
    demo.add_argument("--out", type=Path, default=Path("out"))
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--months", type=_months, default=_months(DEFAULT_MONTHS))
    demo.add_argument("--fault-rate", type=float, default=0.02)
    demo.add_argument("--warehouse", default=env_url, help=warehouse_help)
    demo.add_argument("--key-file", type=Path, default=None)
    demo.add_argument("--strict", action="store_true", help=strict_help)
    demo.set_defaults(func=_cmd_demo)

    ui = sub.add_parser("ui", help="open the Dagster UI on this project (dagster dev -m pipelines)")
    ui.add_argument("--landing", type=Path, default=Path("out/landing"))
    ui.add_argument("--out", type=Path, default=Path("out"))
    ui.add_argument("--warehouse", default=env_url)
    ui.set_defaults(func=_cmd_ui)

    bench = sub.add_parser("bench", help="generate N persons and measure time and peak memory per stage")
    bench.add_argument("--persons", type=int, default=5000)
    bench.add_argument("--out", type=Path, default=Path("out/bench"))
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--fault-rate", type=float, default=0.02)
    bench.set_defaults(func=_cmd_bench)

    from carebridge.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
