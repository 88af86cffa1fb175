"""The `carebridge` command: run the pipeline, open the UI, and the sub-commands of `carebridge.commands`.

The shell on top of the product. The development tools add their own commands (`generate`,
`demo`, `bench`, `views bench`) through the `carebridge.commands` entry points, so this module
never imports them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from carebridge.core.settings import LANDING_ENV, OUT_ENV, WAREHOUSE_ENV, env_warehouse_url

__all__ = ["main", "run_and_report", "add_warehouse_options"]

WAREHOUSE_HELP = "SQLAlchemy URL of the warehouse (default: DuckDB file in the output folder; env CAREBRIDGE_WAREHOUSE_URL)"


def add_warehouse_options(parser: argparse.ArgumentParser) -> None:
    """`--warehouse`, `--key-file` and `--strict`, as every command that runs the pipeline takes them."""
    parser.add_argument("--warehouse", default=env_warehouse_url(), help=WAREHOUSE_HELP)
    parser.add_argument("--key-file", type=Path, default=None, help="pseudonymisation key file (env CAREBRIDGE_KEY_FILE)")
    parser.add_argument("--strict", action="store_true",
                        help="validate every FHIR resource with the fhir.resources R4B models instead of the compiled "
                             "validator (slower; same report and blocking check)")


def _print_outcome(outcome) -> None:
    print()
    print(f"months staged   : {outcome.months[0]} .. {outcome.months[-1]} ({len(outcome.months)})")
    print(f"quarantined rows: {outcome.rows_quarantined:,} (see audit.quarantine); files rejected: {outcome.files_rejected}")
    files = ", ".join(f"{status} {n:,}" for status, n in outcome.files_by_status.items())
    print(f"files           : {files or 'none'} (reasons in audit.load_audit)")
    if outcome.warnings:
        print(f"warnings        : {len(outcome.warnings)} checks with warnings ({', '.join(outcome.warnings[:5])}...)")
    print(f"warehouse       : {outcome.warehouse_url}")
    print(f"FHIR output     : {outcome.out / 'fhir'} (ndjson/, bundles/, definitions/)")
    print(f"Data Docs       : {outcome.out / 'data_docs' / 'index.html'}")
    print(f"Report          : {outcome.out / 'report' / 'index.html'}")


def run_and_report(landing: Path, out: Path, warehouse: str, key_file: Path | None, strict: bool = False) -> int:
    """Run the pipeline with progress lines and print where everything went; the exit code."""
    from carebridge.core.keys import KeyFileError, default_key_path, ensure_key
    from carebridge.runner import PipelineError, run_pipeline

    key_path = key_file or default_key_path()
    try:
        if ensure_key(key_path, out, landing):
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
    return run_and_report(args.landing, args.out, args.warehouse, args.key_file, args.strict)


def _cmd_ui(args: argparse.Namespace) -> int:
    env = {**os.environ, LANDING_ENV: str(args.landing.resolve()), OUT_ENV: str(args.out.resolve())}
    if args.warehouse:
        env[WAREHOUSE_ENV] = args.warehouse
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.call([str(dagster), "dev", "-m", "pipelines"], env=env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebridge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline over a landing area")
    run.add_argument("--landing", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    add_warehouse_options(run)
    run.set_defaults(func=_cmd_run)

    ui = sub.add_parser("ui", help="open the Dagster UI on this project (dagster dev -m pipelines)")
    ui.add_argument("--landing", type=Path, default=Path("out/landing"))
    ui.add_argument("--out", type=Path, default=Path("out"))
    ui.add_argument("--warehouse", default=env_warehouse_url())
    ui.set_defaults(func=_cmd_ui)

    from carebridge.commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
