"""`carebridge` behaves like a Unix tool: signals stop a run within seconds with 130 / 143 and one
line saying where, bad arguments fail fast with one line, `--version`, and a mistyped subcommand
gets the nearest one suggested. Real subprocesses, real signals, a real pipeline run."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "carebridge.cli"]


def _cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def small_landing(tmp_path_factory) -> Path:
    from carebridge.synthetic import generate

    folder = tmp_path_factory.mktemp("unix")
    generate(60, folder / "landing", folder / "truth", seed=5, months=("2025-04", "2025-05"))
    return folder / "landing"


def test_version_and_nearest_subcommand():
    done = _cli("--version")
    assert done.returncode == 0 and done.stdout.strip().startswith("carebridge ")
    done = _cli("rn", "--landing", "x", "--out", "y")
    assert done.returncode == 2
    assert done.stderr.strip() == "carebridge: unknown command 'rn'; did you mean 'run'?"
    assert "did you mean 'generate'" in _cli("genrate").stderr


@pytest.mark.parametrize("make", ["missing", "empty", "unrelated files"])
def test_a_landing_area_without_deliveries_fails_in_under_two_seconds(tmp_path, make, record_property):
    landing = tmp_path / "landing"
    if make != "missing":
        landing.mkdir()
    if make == "unrelated files":
        (landing / "reference").mkdir()
        (landing / "reference" / "opt_outs.csv").write_text("nhs_number\n", encoding="utf-8")
        (landing / "gp" / "Z1" / "not-a-month" / "20250101T0000").mkdir(parents=True)
        (landing / "gp" / "Z1" / "not-a-month" / "20250101T0000" / "x.csv").write_text("a\n", encoding="utf-8")
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = _cli("run", "--landing", str(landing), "--out", str(tmp_path / "out"))
    elapsed, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time, not wall-clock: the test machine is shared, and what the check measures is that
    # nothing heavy (Dagster, DuckDB, Great Expectations) is imported before the error.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    record_property(f"figure: empty-landing error ({make}), CPU s / wall s", f"{cpu:.2f} / {elapsed:.2f}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(landing) in lines[0]
    assert ("does not exist" if make == "missing" else "no deliveries") in lines[0]
    assert cpu < 2.0, f"took {cpu:.2f} s of CPU"
    assert not (tmp_path / "out").exists()


def test_an_unreachable_postgresql_is_named_with_host_port_and_cause_before_any_work(tmp_path, small_landing):
    with socket_closed_port() as port:
        done = _cli("run", "--landing", str(small_landing), "--out", str(tmp_path / "out"),
                    "--warehouse", f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere")
    assert done.returncode == 1
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "127.0.0.1" in line and str(port) in line and "refused" in line.lower()
    assert not (tmp_path / "out" / "staging").exists()   # nothing was staged


def test_a_malformed_warehouse_url_is_refused_before_any_work(tmp_path, small_landing):
    done = _cli("run", "--landing", str(small_landing), "--out", str(tmp_path / "out"), "--warehouse", "not a url")
    assert done.returncode == 1 and "not a database URL" in done.stderr
    done = _cli("run", "--landing", str(small_landing), "--out", str(tmp_path / "out"),
                "--warehouse", "mysql://u@h/db")
    assert done.returncode == 1 and "unsupported database 'mysql'" in done.stderr


class socket_closed_port:
    """A local TCP port nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.e2e
@pytest.mark.parametrize("signo, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_run_within_seconds_saying_where_and_leaves_no_work_folder(tmp_path, small_landing, record_property,
                                                                                    signo, code):
    out = tmp_path / "out"
    env = {**os.environ, "CAREBRIDGE_KEY_FILE": str(tmp_path / "key" / "k.key"), "PYTHONUNBUFFERED": "1"}
    env.pop("DAGSTER_HOME", None)
    process = subprocess.Popen([*CLI, "run", "--landing", str(small_landing), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:                     # wait until the build is under way
            if "staged: done" in line:
                break
        else:
            pytest.fail(f"the run ended before the build: {process.wait()} {process.stderr.read()[-2000:]}")
        sent = time.monotonic()
        process.send_signal(signo)
        rc = process.wait(timeout=60)
        stopped_after = time.monotonic() - sent
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert rc == code, stderr[-2000:]
    record_property(f"figure: {signal.Signals(signo).name} to exit (s)", round(stopped_after, 1))
    # A step inside a long DuckDB call is interrupted from the signal's watcher thread (carebridge.core.interrupt).
    assert stopped_after < 5, f"took {stopped_after:.1f} s to stop"
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"carebridge: stopped by {signal.Signals(signo).name} during "), stderr[-2000:]
    assert "re-run the same command to resume" in last
    assert "Traceback" not in stderr and "DagsterExecutionInterruptedError" not in stderr
    assert not (out / "fhir" / ".work").exists()
    assert (out / "staging" / "months" / "2025-04").is_dir()   # what finished is kept
