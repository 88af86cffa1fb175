"""The resources every asset uses: where the landing area, output folder and warehouse are (one
`CarebridgeResource`, which owns the run's warehouse engine), and where progress lines go."""

from __future__ import annotations

import atexit
import contextlib
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import sqlalchemy.ext.compiler
from pydantic import PrivateAttr

from carebridge.core.layout import OutputLayout
from carebridge.core.settings import Settings
from warehouse.db import ensure_schemas, is_duckdb, make_engine

__all__ = ["CarebridgeResource", "WAREHOUSE_POOL", "resource_from_env", "release_duckdb_dialect_at_exit"]

# The concurrency pool of every asset that opens the warehouse. A DuckDB file takes one process at
# a time (even to read), so the project's instance configuration (pipelines/dagster.yaml) limits
# the pool to one step across all runs; steps outside it (staging months, Data Docs) run in parallel.
WAREHOUSE_POOL = "warehouse"
_LOCK_WAIT_SECONDS = 30.0


def _is_lock_conflict(exc: BaseException) -> bool:
    return "Could not set lock on file" in str(exc)


def _connect_waiting_for_lock(url: str) -> sa.Engine:
    """An engine whose schemas exist. The pool hands the warehouse to the next step when the previous
    one reports success, a few milliseconds before that step's process has exited and let go of a
    DuckDB file; the first connection therefore waits (bounded) for such a lock instead of failing."""
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        engine = make_engine(url)
        try:
            ensure_schemas(engine)
            return engine
        except Exception as exc:  # noqa: BLE001 - only DuckDB's file-lock conflict is retried
            engine.dispose()
            if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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


class CarebridgeResource(dg.ConfigurableResource):
    """Locations for one deployment. Set by `carebridge run`, or by environment variables for `dagster dev`.

    The resource owns the warehouse engine: created on first use (a DuckDB file takes a single
    writer, so one engine serves every step of a run) and disposed when the run ends."""

    landing_dir: str
    out_dir: str
    warehouse_url: str = ""
    key_file: str = ""
    # Validate every FHIR resource with the fhir.resources R4B models instead of the compiled validator.
    strict_validation: bool = False
    _engine: sa.Engine | None = PrivateAttr(default=None)
    _hold: contextlib.ExitStack | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        return Settings(landing=Path(self.landing_dir), out=Path(self.out_dir), warehouse_url=self.warehouse_url,
                        key_file=Path(self.key_file) if self.key_file else None)

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def layout(self) -> OutputLayout:
        return OutputLayout(self.out)

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = _connect_waiting_for_lock(self.url)
            if is_duckdb(self._engine):
                release_duckdb_dialect_at_exit()
        return self._engine

    @property
    def key_path(self) -> Path | None:
        return self.settings.key_file

    def dispose(self) -> None:
        """Close the warehouse connections (a later use opens new ones)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Hold the output folder (shared) while the run (in process) or step (multiprocess) works,
        so a `carebridge run` on the same folder is refused meanwhile, and this run is refused with
        one line while such a run holds it (carebridge.core.runlock)."""
        from carebridge.core.runlock import step_lock

        hold = contextlib.ExitStack()
        hold.enter_context(step_lock(self.out))
        self._hold = hold

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Let go of the warehouse and the output folder when the run or the step ends."""
        self.dispose()
        if self._hold is not None:
            self._hold.close()
            self._hold = None


def resource_from_env() -> CarebridgeResource:
    """For `dagster dev -m pipelines`: the settings of the environment (carebridge.core.settings)."""
    settings = Settings.resolve()
    return CarebridgeResource(landing_dir=str(settings.landing), out_dir=str(settings.out),
                              warehouse_url=settings.warehouse_url,
                              key_file=str(settings.key_file) if settings.key_file else "",
                              strict_validation=settings.strict_validation)
