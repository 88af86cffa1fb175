"""The resources every asset uses: where the landing area, output folder and warehouse are (one
`CarebridgeResource`, which owns the run's warehouse engine), and where progress lines go."""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import sqlalchemy.ext.compiler
from pydantic import PrivateAttr

from carebridge.core.layout import OutputLayout
from carebridge.core.settings import Settings
from warehouse.db import ensure_schemas, is_duckdb, make_engine

__all__ = ["CarebridgeResource", "Progress", "resource_from_env", "release_duckdb_dialect_at_exit"]


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
            self._engine = make_engine(self.url)
            ensure_schemas(self._engine)
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

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.dispose()


class Progress:
    """Where the progress hooks send their lines: a reporter (the CLI's print), else the run log."""

    def __init__(self, reporter: Callable[[str], None] | None = None) -> None:
        self.reporter = reporter
        self.started = time.monotonic()


def resource_from_env() -> CarebridgeResource:
    """For `dagster dev -m pipelines`: the settings of the environment (carebridge.core.settings)."""
    settings = Settings.resolve()
    return CarebridgeResource(landing_dir=str(settings.landing), out_dir=str(settings.out),
                              warehouse_url=settings.warehouse_url,
                              key_file=str(settings.key_file) if settings.key_file else "",
                              strict_validation=settings.strict_validation)
