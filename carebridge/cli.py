"""The `carebridge` command: run the pipeline, open the UI, and the sub-commands of `carebridge.commands`.

Heavy libraries (Dagster, pyarrow, DuckDB) are imported inside the commands that need them, so a
bad argument, `--help` or `--version` answers at once.

The shell on top of the product. The development tools add their own commands (`generate`,
`demo`, `bench`, `views bench`) through the `carebridge.commands` entry points, so this module
never imports them.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
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


class _Signals:
    """SIGINT / SIGTERM during a run. Dagster installs its own handlers while a run executes (it
    maps SIGTERM onto its SIGINT handler and stops the current step), so which signal arrived is
    read from a wakeup pipe, which the interpreter writes every signal number to, whoever handles it.

    A handler runs only between bytecodes, so a thread watches the pipe too and interrupts the
    database calls in flight (carebridge.core.interrupt): a step inside a long DuckDB query or
    PostgreSQL statement stops at once instead of when the query returns."""

    _AGAIN_AFTER = 1.0  # a second interrupt, for a query started while the first was delivered

    def __init__(self) -> None:
        self._pipe: tuple[int, int] | None = None
        self._first: int | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    def _on_signal(self, _signo: int, _frame) -> None:
        raise KeyboardInterrupt

    def _read(self) -> None:
        """Take what the pipe holds (under the lock: the watcher and the main thread both read)."""
        with self._lock:
            if self._pipe is None:
                return
            try:
                data = os.read(self._pipe[0], 64)
            except BlockingIOError:
                data = b""
            if self._first is None:
                self._first = next((b for b in data if b in (signal.SIGINT, signal.SIGTERM)), None)

    @property
    def received(self) -> int | None:
        if self._first is None:
            self._read()
        return self._first

    def _watch(self, read_fd: int) -> None:
        from carebridge.core.interrupt import interrupt_all

        while not self._done.is_set():
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if (ready or self._first is not None) and self.received is not None:
                interrupt_all()
                if not self._done.wait(self._AGAIN_AFTER):
                    interrupt_all()
                return

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Signals]:
        from carebridge.core.interrupt import track_connections

        track_connections()
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._pipe = (read, write)
        previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        previous = signal.signal(signal.SIGINT, self._on_signal), signal.signal(signal.SIGTERM, self._on_signal)
        watcher = threading.Thread(target=self._watch, args=(read,), name="carebridge-signals", daemon=True)
        watcher.start()
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            signal.set_wakeup_fd(previous_fd)
            _ = self.received
            self._done.set()
            watcher.join()
            with self._lock:
                os.close(read)
                os.close(write)
                self._pipe = None

    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)

    def name(self) -> str:
        return signal.Signals(self.received or signal.SIGINT).name


def _stopped(signals: _Signals, out: Path, where: str) -> int:
    shutil.rmtree(out / "fhir" / ".work", ignore_errors=True)
    print(f"carebridge: stopped by {signals.name()} during {where}; staged months and finished steps are kept "
          f"in {out}, re-run the same command to resume", file=sys.stderr)
    return signals.exit_code()


def run_and_report(landing: Path, out: Path, warehouse: str, key_file: Path | None, strict: bool = False) -> int:
    """Run the pipeline with progress lines and print where everything went; the exit code. Checks the
    landing area and the warehouse first, holds the run lock, and stops cleanly on SIGINT / SIGTERM."""
    from carebridge.core.keys import KeyFileError, check_key_location, default_key_path
    from carebridge.core.runlock import RunLocked, run_lock
    from carebridge.preflight import PreflightError, check_warehouse, landing_months

    signals = _Signals()
    with signals.installed():
        try:
            check_key_location(key_file or default_key_path(), out_dir=out, landing=landing)  # a secret first
            landing_months(landing)  # before anything heavy is imported: fails in well under 2 s
            check_warehouse(warehouse)
            with run_lock(out, warehouse):
                return _locked_run(landing, out, warehouse, key_file, signals, strict)
        except (KeyFileError, PreflightError, RunLocked) as exc:
            print(f"carebridge: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return _stopped(signals, out, "start-up")


def _locked_run(landing: Path, out: Path, warehouse: str, key_file: Path | None, signals: _Signals,
                strict: bool) -> int:
    from carebridge.core.keys import KeyFileError, default_key_path, ensure_key

    key_path = key_file or default_key_path()
    try:
        if ensure_key(key_path, out, landing):
            print(f"warning: there was no pseudonymisation key at {key_path}; created a new one there. "
                  "Keep it safe and out of the repository and the output folder: person_key values depend on it.",
                  file=sys.stderr)
    except KeyFileError as exc:
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    from carebridge.runner import PipelineError, PipelineInterrupted, run_pipeline

    try:
        outcome = run_pipeline(landing, out, warehouse_url=warehouse, key_file=key_file, reporter=print, strict=strict)
    except PipelineInterrupted as exc:
        return _stopped(signals, out, exc.where)
    except KeyboardInterrupt:
        return _stopped(signals, out, "the run")
    except PipelineError as exc:
        if signals.received:
            return _stopped(signals, out, "the run")
        print(f"carebridge: {exc}", file=sys.stderr)
        return 1
    _print_outcome(outcome)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    code = run_and_report(args.landing, args.out, args.warehouse, args.key_file, args.strict)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """Leave at once after a stop: the locks are released and the line is printed, and tearing down
    the interpreter (Dagster, Great Expectations, Splink, DuckDB objects) would take seconds more."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def dagster_home(out: Path, explicit: Path | None = None) -> Path:
    """Where the UI keeps run history: --dagster-home, else $DAGSTER_HOME, else `<out>/.dagster`;
    holds the project's instance configuration (pipelines/dagster.yaml) unless one is there."""
    home = (explicit or (Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else out / ".dagster"))
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(Path(__file__).resolve().parent.parent / "pipelines" / "dagster.yaml", config)
    return home


def _ui_command(host: str, port: int) -> tuple[list[str], Path | None]:
    """`dg dev` from the project root when the project's dg configuration is there, else `dagster dev`."""
    bin_dir = Path(sys.executable).parent
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    dg_cli = bin_dir / "dg"
    if dg_cli.exists() and pyproject.exists() and "[tool.dg]" in pyproject.read_text(encoding="utf-8"):
        # No component YAML to check (the project defines assets in Python): skipping the check saves
        # loading every installed component library before the UI starts.
        return [str(dg_cli), "dev", "--no-check-yaml", "--host", host, "--port", str(port)], root
    return [str(bin_dir / "dagster"), "dev", "-m", "pipelines", "--host", host, "--port", str(port)], None


def _cmd_ui(args: argparse.Namespace) -> int:
    home = dagster_home(args.out, args.dagster_home)
    env = {**os.environ, LANDING_ENV: str(args.landing.resolve()), OUT_ENV: str(args.out.resolve()),
           "DAGSTER_HOME": str(home), "VIRTUAL_ENV": sys.prefix}
    if args.warehouse:
        env[WAREHOUSE_ENV] = args.warehouse
    command, cwd = _ui_command(args.host, args.port)
    print(f"Dagster UI on http://{args.host}:{args.port} (run history in {home})", flush=True)
    process = subprocess.Popen(command, env=env, cwd=cwd)
    # SIGTERM (a service manager, `timeout`) stops the UI as Ctrl-C does: dg dev then stops its
    # webserver, daemon and code server instead of leaving them behind.
    previous = signal.signal(signal.SIGTERM, lambda _signo, _frame: process.send_signal(signal.SIGINT))
    try:
        return process.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to dg dev too
        process.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"carebridge {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline over a landing area")
    run.add_argument("--landing", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    add_warehouse_options(run)
    run.set_defaults(func=_cmd_run)

    ui = sub.add_parser("ui", help="open the Dagster UI on this project (dg dev), run history kept in DAGSTER_HOME")
    ui.add_argument("--landing", type=Path, default=Path("out/landing"))
    ui.add_argument("--out", type=Path, default=Path("out"))
    ui.add_argument("--warehouse", default=env_warehouse_url())
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--dagster-home", type=Path, default=None,
                    help="where run history is kept (default: $DAGSTER_HOME, else <out>/.dagster)")
    ui.set_defaults(func=_cmd_ui)

    from carebridge.commands import register_all

    register_all(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("carebridge")
    except PackageNotFoundError:
        return "unknown"


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    return [name for action in parser._subparsers._group_actions for name in action.choices]  # noqa: SLF001


def _unknown_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """A one-line error for a mistyped subcommand, suggesting the nearest; None when it is known."""
    word = next((a for a in argv if not a.startswith("-")), None)
    commands = _commands(parser)
    if word is None or word in commands:
        return None
    near = difflib.get_close_matches(word, commands, n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else f" (commands: {', '.join(sorted(commands))})"
    return f"carebridge: unknown command '{word}'{hint}"


# Library notices that say nothing to a user of carebridge: pyspark (when installed) is imported by
# Great Expectations on every engine and warns about pandas 3; Dagster flags the backfill policy the
# staging assets use knowingly as beta.
_QUIET = [(FutureWarning, r"PySpark does not yet fully support pandas"),
          (Warning, r"Parameter `backfill_policy` of function `asset` is currently in beta")]


def main(argv: list[str] | None = None) -> int:
    for category, message in _QUIET:
        warnings.filterwarnings("ignore", message=message, category=category)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    problem = _unknown_command(parser, argv)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
