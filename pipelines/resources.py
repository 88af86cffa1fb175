"""The one resource every asset uses: where the landing area, output folder and warehouse are."""

from __future__ import annotations

import atexit
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import sqlalchemy.ext.compiler

from warehouse.db import default_url, ensure_schemas, is_duckdb, make_engine


_ENGINES: dict[str, sa.Engine] = {}


def engine_for(url: str) -> sa.Engine:
    """One engine per warehouse URL per process (a DuckDB file takes a single writer)."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
        ensure_schemas(_ENGINES[url])
        if is_duckdb(_ENGINES[url]):
            release_duckdb_dialect_at_exit()
    return _ENGINES[url]


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
    # Validate every FHIR resource with the fhir.resources R4B models instead of the compiled validator.
    strict_validation: bool = False

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


def resource_from_env() -> CarebridgeResource:
    """For `dagster dev -m pipelines`: CAREBRIDGE_LANDING, CAREBRIDGE_OUT, CAREBRIDGE_WAREHOUSE_URL,
    CAREBRIDGE_KEY_FILE, CAREBRIDGE_STRICT_VALIDATION (1: validate with the fhir.resources models)."""
    return CarebridgeResource(
        landing_dir=dg.EnvVar("CAREBRIDGE_LANDING").get_value("./out/landing") or "./out/landing",
        out_dir=dg.EnvVar("CAREBRIDGE_OUT").get_value("./out") or "./out",
        warehouse_url=dg.EnvVar("CAREBRIDGE_WAREHOUSE_URL").get_value("") or "",
        key_file=dg.EnvVar("CAREBRIDGE_KEY_FILE").get_value("") or "",
        strict_validation=(dg.EnvVar("CAREBRIDGE_STRICT_VALIDATION").get_value("") or "") in ("1", "true", "yes"),
    )
