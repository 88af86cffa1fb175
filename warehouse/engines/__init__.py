"""Warehouse backends behind one interface (`warehouse.engines.base.Engine`).

`BACKENDS` names the module and class of each backend by its name (the SQLAlchemy dialect where
there is one); a backend's module is imported only when a warehouse of its kind is used (psycopg
and pyspark are optional dependencies). A new backend is one new module and one line here.

A warehouse handle (`Warehouse`) is what `connect` returns and what the rest of carebridge passes
around: a SQLAlchemy engine for DuckDB and PostgreSQL, the backend object itself for Spark (which
has no SQLAlchemy dialect). `backend(handle)` gives the `Engine` of either.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from warehouse.engines.base import Engine

__all__ = ["Engine", "Warehouse", "BACKENDS", "URL_SCHEMES", "backend_class", "backend", "backend_name", "connect"]

BACKENDS: dict[str, str] = {
    "duckdb": "warehouse.engines.duckdb:DuckDBEngine",
    "postgresql": "warehouse.engines.postgresql:PostgresEngine",
    "spark": "warehouse.engines.spark:SparkEngine",
}
# URL schemes that are not the backend's own name (SQLAlchemy's `postgresql+psycopg` is read by it).
URL_SCHEMES: dict[str, str] = {"spark+local": "spark", "sc": "spark"}

Warehouse = sa.Engine | Engine


def backend_class(dialect: str) -> type[Engine]:
    try:
        module, cls = BACKENDS[dialect].split(":")
    except KeyError:
        raise NotImplementedError(f"carebridge's warehouse supports {', '.join(BACKENDS)}, not {dialect}") from None
    return getattr(importlib.import_module(module), cls)


def _backend_of_url(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme in URL_SCHEMES or scheme in BACKENDS:
        return URL_SCHEMES.get(scheme, scheme)
    return sa.make_url(url).get_backend_name()


def connect(url: str, read_only: bool = False) -> Warehouse:
    """The warehouse handle for a URL, made as its backend needs."""
    return backend_class(_backend_of_url(url)).connect(url, read_only)


def backend(engine: Warehouse) -> Engine:
    """The backend of a warehouse handle (a SQLAlchemy engine, or a backend already)."""
    if isinstance(engine, Engine):
        return engine
    return backend_class(engine.dialect.name)(engine)


def backend_name(engine: Warehouse) -> str:
    """"duckdb", "postgresql" or "spark", without importing the backend's module."""
    return engine.name if isinstance(engine, Engine) else engine.dialect.name
