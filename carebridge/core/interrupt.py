"""Stop long database calls when the user stops a run.

A Python signal handler runs only between bytecodes, so a step inside one long DuckDB query (a
Splink pass, a mart, an NDJSON load) would notice Ctrl-C only when the query returns. The shell
(`carebridge run`) therefore tracks every database connection the process opens and, from a
thread woken by the signal, interrupts them: DuckDB's `interrupt()` and PostgreSQL's query cancel.
The query then fails at once with the database's own "interrupted" error, and the run stops.

Tracking is process-wide and opt-in (`track_connections`): `duckdb.connect` is wrapped (every
caller, the warehouse's engine, Splink and the FHIR mapping's in-memory databases, looks it up at
call time), and a SQLAlchemy pool listener sees every PostgreSQL connection.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["track_connections", "interrupt_all"]

_lock = threading.Lock()
_live: weakref.WeakSet = weakref.WeakSet()
_installed = False


def _remember(connection: Any) -> None:
    try:
        with _lock:
            _live.add(connection)
    except TypeError:  # not weak-referenceable: not interruptible by us either
        pass


def _wrap_duckdb_connect() -> None:
    import duckdb

    original = duckdb.connect

    def connect(*args: Any, **kwargs: Any):
        connection = original(*args, **kwargs)
        _remember(connection)
        return connection

    connect.__wrapped__ = original  # type: ignore[attr-defined]
    duckdb.connect = connect


def _listen_to_pools() -> None:
    import sqlalchemy as sa

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if hasattr(dbapi_connection, "cancel"):  # psycopg; DuckDB's were seen by connect()
            _remember(dbapi_connection)

    sa.event.listen(sa.pool.Pool, "connect", on_connect)


def track_connections() -> None:
    """From now on, remember every DuckDB and PostgreSQL connection this process opens (once)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    _wrap_duckdb_connect()
    _listen_to_pools()


def interrupt_all() -> int:
    """Interrupt whatever every tracked connection is running; how many were asked. Safe from any
    thread, and harmless for a connection that is idle or closed."""
    with _lock:
        connections = list(_live)
    asked = 0
    for connection in connections:
        stop = getattr(connection, "interrupt", None) or getattr(connection, "cancel_safe", None) \
            or getattr(connection, "cancel", None)
        if stop is None:
            continue
        try:
            stop()
            asked += 1
        except Exception:  # noqa: BLE001 - a closed connection has nothing to stop
            pass
    return asked
