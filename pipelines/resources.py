"""The one resource every asset uses: where the landing area, output folder and warehouse are."""

from __future__ import annotations

import atexit
import contextlib
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr
import sqlalchemy.ext.compiler

from warehouse.db import default_url, ensure_schemas, is_duckdb, make_engine


# The concurrency pool of every asset that opens the warehouse. A DuckDB file takes one process at
# a time (even to read), so the project's instance configuration (pipelines/dagster.yaml) limits
# the pool to one step across all runs; steps outside it (staging months, Data Docs) run in parallel.
WAREHOUSE_POOL = "warehouse"

_ENGINES: dict[str, sa.Engine] = {}
_LOCK_WAIT_SECONDS = 30.0


def _is_lock_conflict(exc: BaseException) -> bool:
    return "Could not set lock on file" in str(exc)


def engine_for(url: str) -> sa.Engine:
    """One engine per warehouse URL per process (a DuckDB file takes a single writer).

    The pool hands the warehouse to the next step when the previous one reports success, a few
    milliseconds before that step's process has exited and let go of a DuckDB file; the first
    connection therefore waits (bounded) for such a lock instead of failing the step."""
    if url not in _ENGINES:
        engine = make_engine(url)
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                ensure_schemas(engine)
                break
            except Exception as exc:  # noqa: BLE001 - only DuckDB's file-lock conflict is retried
                if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                    engine.dispose()
                    raise
                engine.dispose()
                time.sleep(0.2)
        _ENGINES[url] = engine
        if is_duckdb(engine):
            release_duckdb_dialect_at_exit()
    return _ENGINES[url]


def dispose_engine(url: str) -> None:
    """Close this process's connections to one warehouse (a DuckDB file is free again)."""
    engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def _release_duckdb_dialect() -> None:
    """Detach the TRY_CAST compiler duckdb_engine hangs on SQLAlchemy's shared `TryCast` class.

    The hook's function holds duckdb_engine's module globals and, through them, DuckDB's module
    objects. With Great Expectations loaded, SQLAlchemy's classes are still alive when nanobind
    checks for leaks after interpreter shutdown, so DuckDB's objects are too: "nanobind: leaked
    N instances" at the end of every run. carebridge never compiles TRY_CAST through SQLAlchemy,
    and at exit nothing will."""
    sqlalchemy.ext.compiler.deregister(sa.TryCast)


def release_duckdb_dialect_at_exit() -> None:
    """Once per process: release the DuckDB dialect's hold on SQLAlchemy at interpreter exit."""
    atexit.unregister(_release_duckdb_dialect)
    atexit.register(_release_duckdb_dialect)


def dispose_engines() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


class CarebridgeResource(dg.ConfigurableResource):
    """Locations for one deployment. Set by `carebridge run`, or by environment variables for `dagster dev`."""

    landing_dir: str
    out_dir: str
    warehouse_url: str = ""
    key_file: str = ""

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def url(self) -> str:
        return self.warehouse_url or default_url(self.out)

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.url)

    @property
    def key_path(self) -> Path | None:
        return Path(self.key_file) if self.key_file else None

    _hold: contextlib.ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Hold the output folder (shared) while the run (in process) or step (multiprocess) works,
        so a `carebridge run` on the same folder is refused meanwhile, and this run is refused with
        one line while such a run holds it (carebridge.runlock)."""
        from carebridge.runlock import step_lock

        hold = contextlib.ExitStack()
        hold.enter_context(step_lock(self.out))
        self._hold = hold

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Let go of the warehouse and the output folder when the run (in process) or the step
        (multiprocess) ends."""
        dispose_engine(self.url)
        if self._hold is not None:
            self._hold.close()
            self._hold = None


def resource_from_env() -> CarebridgeResource:
    """For `dagster dev -m pipelines`: CAREBRIDGE_LANDING, CAREBRIDGE_OUT, CAREBRIDGE_WAREHOUSE_URL."""
    return CarebridgeResource(
        landing_dir=dg.EnvVar("CAREBRIDGE_LANDING").get_value("./out/landing") or "./out/landing",
        out_dir=dg.EnvVar("CAREBRIDGE_OUT").get_value("./out") or "./out",
        warehouse_url=dg.EnvVar("CAREBRIDGE_WAREHOUSE_URL").get_value("") or "",
        key_file=dg.EnvVar("CAREBRIDGE_KEY_FILE").get_value("") or "",
    )
