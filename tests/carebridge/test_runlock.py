"""One run per output folder and warehouse: a second run is refused at once naming the holder; a
lock left by a run that died is taken over with a warning. The holders are real other processes;
the PostgreSQL lock is a real advisory lock on the test server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from carebridge.core.runlock import LOCK_NAME, RunLocked, run_lock
from pipelines.resources import CarebridgeResource

_HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from carebridge.core.runlock import run_lock
    with run_lock(Path(sys.argv[1]), sys.argv[2]):
        print("held", flush=True)
        if sys.argv[3] == "die":
            import os; os._exit(9)          # killed: no clean release
        time.sleep(120)
""")


def _holder(out: Path, url: str = "", mode: str = "hold") -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), url, mode], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def _refusal(out: Path, url: str = "") -> str:
    started = time.monotonic()
    with pytest.raises(RunLocked) as refused:
        with run_lock(out, url):
            pytest.fail("the lock was granted twice")
    assert time.monotonic() - started < 15           # at once, no waiting for the holder
    return str(refused.value)


def test_a_second_run_on_the_same_output_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        message = _refusal(out)
    finally:
        holder.kill()
        holder.wait()
    assert len(message.splitlines()) == 1
    assert f"PID {holder.pid}" in message and socket.gethostname() in message and "started 20" in message
    assert str(out.resolve()) in message


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_warning(tmp_path):
    out = tmp_path / "out"
    dead = _holder(out, mode="die")
    dead.wait()
    record = json.loads((out / LOCK_NAME).read_text())
    assert record["pid"] == dead.pid                 # the dead run's record is still there
    warnings: list[str] = []
    with run_lock(out, warn=warnings.append):
        mine = json.loads((out / LOCK_NAME).read_text())
        assert mine["pid"] == os.getpid()
    assert len(warnings) == 1 and f"PID {dead.pid}" in warnings[0] and "gone" in warnings[0]
    assert (out / LOCK_NAME).read_text() == ""       # released cleanly: the next run has nothing to warn about
    with run_lock(out, warn=warnings.append):
        pass
    assert len(warnings) == 1


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    out = tmp_path / "out"
    with run_lock(out), run_lock(out):              # the CLI, then the runner inside it
        pass
    holder = _holder(out)                            # free again for another process
    holder.kill()
    holder.wait()


def test_a_duckdb_warehouse_outside_the_output_folder_is_locked_too(tmp_path):
    url = f"duckdb:///{tmp_path / 'shared' / 'warehouse.duckdb'}"
    (tmp_path / "shared").mkdir()
    holder = _holder(tmp_path / "out_a", url)
    try:
        message = _refusal(tmp_path / "out_b", url)  # another output folder, the same warehouse file
    finally:
        holder.kill()
        holder.wait()
    assert "warehouse" in message and f"PID {holder.pid}" in message


@pytest.mark.postgres
def test_postgresql_runs_are_serialised_by_an_advisory_lock(tmp_path, warehouse_for):
    url = warehouse_for("postgresql")
    holder = _holder(tmp_path / "out_a", url)
    try:
        message = _refusal(tmp_path / "out_b", url)  # another output folder, the same database
    finally:
        holder.kill()
        holder.wait()
    assert len(message.splitlines()) == 1
    assert "warehouse" in message and f"PID {holder.pid}" in message and "started 20" in message
    # The server drops the lock with the holder's session: the next run goes ahead at once.
    deadline = time.monotonic() + 30
    while True:
        try:
            with run_lock(tmp_path / "out_b", url):
                break
        except RunLocked:
            assert time.monotonic() < deadline, "the advisory lock outlived its holder"
            time.sleep(0.5)


def test_carebridge_run_on_a_held_output_folder_is_refused_before_any_work(tmp_path):
    from carebridge.synthetic import generate

    generate(20, tmp_path / "landing", tmp_path / "truth", seed=3, months=("2025-04", "2025-04"))
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        done = subprocess.run([sys.executable, "-m", "carebridge.cli", "run", "--landing", str(tmp_path / "landing"),
                               "--out", str(out)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "CAREBRIDGE_KEY_FILE": str(tmp_path / "key" / "k.key")})
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if line.startswith("carebridge: output folder")]
    assert f"PID {holder.pid}" in done.stderr
    assert not (out / "staging").exists() and not (tmp_path / "key").exists()   # nothing started


def test_dagster_runs_and_carebridge_run_exclude_each_other_on_one_output_folder(tmp_path):
    import dagster as dg

    from carebridge.core.runlock import step_lock

    out = tmp_path / "out"

    @dg.asset
    def touches_out(carebridge: CarebridgeResource) -> None:
        (carebridge.out / "touched").write_text("x")

    resources = {"carebridge": CarebridgeResource(landing_dir=str(tmp_path), out_dir=str(out))}
    holder = _holder(out)                                # a `carebridge run` in another process
    try:
        result = dg.materialize([touches_out], resources=resources, raise_on_error=False)
    finally:
        holder.kill()
        holder.wait()
    assert not result.success and not (out / "touched").exists()
    errors = [e.event_specific_data.error for e in result.all_events
              if getattr(e.event_specific_data, "error", None) is not None]
    causes = []
    for error in errors:
        while error is not None:
            causes.append(error)
            error = error.cause
    refused = [c for c in causes if c.cls_name == "RunLocked"]
    assert refused and f"PID {holder.pid}" in refused[0].message
    assert dg.materialize([touches_out], resources=resources).success   # free again
    with step_lock(out):                                 # a step of a UI run is working
        with pytest.raises(RunLocked, match="a Dagster run's step"), run_lock(out):
            pytest.fail("carebridge run started while a step was working")
