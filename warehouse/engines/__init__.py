"""Warehouse backends behind one interface (`warehouse.engines.base.Engine`).

`BACKENDS` names the module and class of each backend by SQLAlchemy dialect; a backend's module is
imported only when a warehouse of its kind is used (psycopg is an optional dependency). A third
backend is one new module and one line here.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from warehouse.engines.base import Engine

__all__ = ["Engine", "BACKENDS", "backend_class", "backend", "connect"]

BACKENDS: dict[str, str] = {
    "duckdb": "warehouse.engines.duckdb:DuckDBEngine",
    "postgresql": "warehouse.engines.postgresql:PostgresEngine",
}


def backend_class(dialect: str) -> type[Engine]:
    try:
        module, cls = BACKENDS[dialect].split(":")
    except KeyError:
        raise NotImplementedError(f"carebridge's warehouse supports {', '.join(BACKENDS)}, not {dialect}") from None
    return getattr(importlib.import_module(module), cls)


def connect(url: str, read_only: bool = False) -> sa.Engine:
    """A SQLAlchemy engine for a warehouse URL, made as its backend needs."""
    return backend_class(sa.make_url(url).get_backend_name()).connect(url, read_only)


def backend(engine: sa.Engine) -> Engine:
    """The backend of a SQLAlchemy engine."""
    return backend_class(engine.dialect.name)(engine)
