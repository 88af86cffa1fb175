"""FHIR views on PostgreSQL: bulk loading (COPY) into `<schema>.fhir_<Type>(id text, resource jsonb)`
and running a compiled view there (the PostgreSQL parts of `PostgresEngine.load_ndjson` / `run_view`);
`scratch_runner` does both in a throwaway schema (the conformance suite's PostgreSQL engine).

`con` is a psycopg 3 connection (from SQLAlchemy: `engine.raw_connection().driver_connection`).
The dialect's helper functions live in `pg_temp`, so `run_compiled_pg` installs them on the
connection first (idempotent, a few milliseconds) and they vanish with the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from warehouse.viewdef.errors import SQL_ERROR_PREFIX, ViewDefinitionError
from warehouse.viewdef.loading import ndjson_paths, resource_batches, valid_name
from warehouse.viewdef.sql_view import prepare_view
from warehouse.viewdef.suite import libpq_url
from warehouse.engines.postgresql_dialect import POSTGRESQL

if TYPE_CHECKING:  # psycopg is an optional dependency (the postgres extra): imported only when used
    import psycopg

__all__ = ["install_functions", "load_resources_pg", "load_ndjson_pg", "run_compiled_pg", "scratch_runner"]


def install_functions(con: psycopg.Connection) -> None:
    """Create the dialect's session helpers (pg_temp) on this connection."""
    with con.transaction(), con.cursor() as cur:
        for statement in POSTGRESQL.setup:
            cur.execute(statement)


def _copy_batch(cur: psycopg.Cursor, table: str, batch: pa.Table) -> None:
    with cur.copy(f"COPY {table} (id, resource) FROM STDIN") as copy:
        for row in zip(batch.column("id").to_pylist(), batch.column("resource").to_pylist()):
            copy.write_row(row)


def _new_table(cur: psycopg.Cursor, schema: str, resource_type: str, columns: str) -> str:
    """(Re)create `<schema>.fhir_<Type>` with `columns`; its qualified name."""
    table = f"{schema}.fhir_{valid_name(resource_type)}"
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} ({columns})")
    return table


def load_resources_pg(con: psycopg.Connection, resources: Mapping[str, Iterable[dict]],
                      schema: str = "public") -> dict[str, int]:
    """(Re)create one `fhir_<Type>(id text, resource jsonb)` table per type and COPY the resources in.

    Returns the number of rows loaded per table; existing tables of those types are replaced."""
    counts: dict[str, int] = {}
    with con.transaction(), con.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {valid_name(schema)}")
        for resource_type, items in resources.items():
            table = _new_table(cur, schema, resource_type, "id text, resource jsonb")
            counts[resource_type] = 0
            for batch in resource_batches(items):
                _copy_batch(cur, table, batch)
                counts[resource_type] += batch.num_rows
    return counts


def load_ndjson_pg(con: psycopg.Connection, files: Mapping[str, Path | Sequence[Path] | None],
                   schema: str = "public") -> dict[str, int]:
    """(Re)create `fhir_<Type>` tables from NDJSON files, each line COPYed as it is (no parsing in
    Python); `id` is a column PostgreSQL generates from the resource. A type's files: one, or the
    parts of a partitioned export; None gets an empty table."""
    counts: dict[str, int] = {}
    with con.transaction(), con.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {valid_name(schema)}")
        for resource_type, path in files.items():
            table = _new_table(cur, schema, resource_type,
                               "id text GENERATED ALWAYS AS (resource ->> 'id') STORED, resource jsonb")
            for part in ndjson_paths(path):
                with cur.copy(f"COPY {table} (resource) FROM STDIN") as copy, open(part, encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            copy.write_row((line.rstrip("\n"),))
            counts[resource_type] = cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts


def _table_exists(con: psycopg.Connection, schema: str, resource: str) -> bool:
    row = con.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.fhir_{resource}"]).fetchone()
    return bool(row and row[0])


def _to_arrow(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Result rows to the view's Arrow schema (collection columns arrive as jsonb arrays)."""
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    return pa.table([pa.array(list(values), type=f.type) for values, f in zip(columns, schema)], schema=schema)


def run_compiled_pg(con: psycopg.Connection, view: dict, schema: str = "public") -> pa.Table:
    """Compile a view for PostgreSQL and run it; a missing resource table means no rows."""
    parsed, target, sql = prepare_view(view, POSTGRESQL, schema)
    if not _table_exists(con, schema, parsed.resource):
        return target.empty_table()
    import psycopg

    install_functions(con)
    try:
        with con.transaction(), con.cursor() as cur:
            for statement in POSTGRESQL.per_query:
                cur.execute(statement)
            cur.execute(sql)
            rows = cur.fetchall()
    except psycopg.Error as error:
        message = str(error)
        if SQL_ERROR_PREFIX not in message:
            raise
        raise ViewDefinitionError(message.split(SQL_ERROR_PREFIX, 1)[1].splitlines()[0]) from error
    return _to_arrow(rows, target)


@contextmanager
def scratch_runner(resources: Mapping[str, Iterable[dict]], pg_url: str | None) -> Iterator[Callable[[dict], pa.Table]]:
    """The resources loaded into a throwaway schema (dropped afterwards) of the database at `pg_url`
    (a SQLAlchemy URL); yields `view -> rows` on it."""
    import psycopg

    if not pg_url:
        raise ValueError("the postgresql engine needs a database URL")
    schema = f"sof_suite_{os.getpid()}"
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        try:
            load_resources_pg(con, resources, schema)
            yield lambda view: run_compiled_pg(con, view, schema)
        finally:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
