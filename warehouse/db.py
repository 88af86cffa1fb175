"""The warehouse connection and bulk Arrow I/O, for whichever backend the URL names.

Everything that writes to or reads from the warehouse goes through these few functions; each asks
the engine's backend (`warehouse.engines`: one class per backend, DuckDB by default, PostgreSQL as
the server option), where every difference between the backends lives.
"""

from __future__ import annotations

from collections.abc import Iterable

from pathlib import Path

import pyarrow as pa

from warehouse.engines import Warehouse, backend, backend_name, connect
from warehouse.schemas import SCHEMAS

__all__ = ["SCHEMAS", "make_engine", "duckdb_path", "ensure_schemas", "write_table", "append_table", "read_table", "read_table_if_exists",
           "execute", "execute_each", "query", "table_exists", "table_names", "is_duckdb", "is_postgres", "is_spark",
           "Warehouse"]


def make_engine(url: str, read_only: bool = False) -> Warehouse:
    """The warehouse at `url`: a SQLAlchemy engine pooled as its backend needs (DuckDB, PostgreSQL),
    or the Spark backend itself (`read_only`: see `warehouse.engines.base.Engine.connect`)."""
    return connect(url, read_only)


def duckdb_path(url: str) -> Path | None:
    """The file of a DuckDB URL (None for PostgreSQL and in-memory DuckDB)."""
    if not url.startswith("duckdb:"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def is_duckdb(engine: Warehouse) -> bool:
    return backend_name(engine) == "duckdb"


def is_postgres(engine: Warehouse) -> bool:
    return backend_name(engine) == "postgresql"


def is_spark(engine: Warehouse) -> bool:
    return backend_name(engine) == "spark"


# --- the functions the rest of carebridge uses ----------------------------------------------

def _split(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def ensure_schemas(engine: Warehouse) -> None:
    execute_each(engine, [f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in SCHEMAS])


def execute(engine: Warehouse, sql: str) -> None:
    """Run one or more ;-separated statements in one transaction (no `;` inside them, not even in comments)."""
    execute_each(engine, _split(sql))


def execute_each(engine: Warehouse, statements: Iterable[str]) -> None:
    """Run each statement exactly as given, in one transaction."""
    backend(engine).run(list(statements))


def query(engine: Warehouse, sql: str) -> pa.Table:
    """Run one query and return the result as an Arrow table."""
    return backend(engine).query(sql)


def table_exists(engine: Warehouse, schema: str, name: str) -> bool:
    return backend(engine).has_table(schema, name)


def table_names(engine: Warehouse, schema: str) -> list[str]:
    """The tables of `schema` (views left out), sorted."""
    return backend(engine).table_names(schema)


def read_table(engine: Warehouse, schema: str, name: str) -> pa.Table:
    return query(engine, f"SELECT * FROM {schema}.{name}")


def read_table_if_exists(engine: Warehouse, schema: str, name: str) -> pa.Table | None:
    """`schema.name`, or None where no run has written it yet."""
    return read_table(engine, schema, name) if table_exists(engine, schema, name) else None


def write_table(engine: Warehouse, schema: str, name: str, table: pa.Table) -> None:
    """Replace `schema.name` with the Arrow table, in bulk and in one transaction."""
    backend(engine).load_arrow(f"{schema}.{name}", table, replace=True)


def append_table(engine: Warehouse, schema: str, name: str, table: pa.Table) -> None:
    """Add the Arrow table's rows to `schema.name` (created from the table's schema when missing), in bulk.
    For logs that accumulate across runs; columns are matched by name."""
    backend(engine).load_arrow(f"{schema}.{name}", table, replace=False)
