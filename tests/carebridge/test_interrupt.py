"""carebridge.core.interrupt: a long query on a tracked connection (DuckDB, PostgreSQL through the
warehouse engine) is stopped from another thread within a second, and the connection stays usable."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from carebridge.core.interrupt import interrupt_all, track_connections
from warehouse.db import make_engine, query

# Runs for minutes unless interrupted (DuckDB: a cross join counted; PostgreSQL: a sleep).
_LONG = {"duckdb": "SELECT count(*) AS n FROM range(100000000000) t(x)", "postgresql": "SELECT pg_sleep(120) AS n"}


def _stopped_within(run, limit: float) -> tuple[float, BaseException | None]:
    threading.Timer(1.0, interrupt_all).start()
    started, error = time.monotonic(), None
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - the database's own "interrupted" error
        error = exc
    return time.monotonic() - started, error


def test_a_long_duckdb_query_on_a_plain_connection_is_interrupted():
    track_connections()
    con = duckdb.connect()
    took, error = _stopped_within(lambda: con.execute(_LONG["duckdb"]).fetchall(), 5)
    assert error is not None and "interrupt" in str(error).lower() and took < 5
    assert con.execute("SELECT 1").fetchall() == [(1,)]


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_a_long_warehouse_query_is_interrupted(backend, warehouse_for):
    track_connections()
    engine = make_engine(warehouse_for(backend))
    try:
        took, error = _stopped_within(lambda: query(engine, _LONG[backend]), 5)
        assert error is not None and took < 5, (took, error)
        assert query(engine, "SELECT 1 AS n")["n"].to_pylist() == [1]
    finally:
        engine.dispose()
