"""The warehouse connection: a SQLAlchemy engine (DuckDB file by default) and bulk Arrow I/O.

Everything that writes to or reads from the warehouse goes through these few functions, so the
engine-specific parts (how Arrow gets in and out in bulk) live in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

__all__ = ["SCHEMAS", "make_engine", "default_url", "ensure_schemas", "write_table", "read_table",
           "execute", "query", "table_exists", "is_duckdb"]

SCHEMAS = ("identifiable", "analytics", "published", "reference")


def default_url(out_dir: Path) -> str:
    return f"duckdb:///{(Path(out_dir) / 'warehouse.duckdb').resolve()}"


def make_engine(url: str) -> sa.Engine:
    if url.startswith("duckdb:"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection: DuckDB files allow a single writer process, and Arrow is registered per connection.
        return sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)
    return sa.create_engine(url)


def is_duckdb(engine: sa.Engine) -> bool:
    return engine.dialect.name == "duckdb"


@contextmanager
def _raw(engine: sa.Engine) -> Iterator[object]:
    conn = engine.raw_connection()
    try:
        yield conn.driver_connection
        conn.commit()
    finally:
        conn.close()


def ensure_schemas(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))


def execute(engine: sa.Engine, sql: str) -> None:
    """Run one or more ;-separated statements."""
    with engine.begin() as conn:
        for statement in _split(sql):
            conn.exec_driver_sql(statement)


def query(engine: sa.Engine, sql: str) -> pa.Table:
    """Run a query and return the result as an Arrow table."""
    if is_duckdb(engine):
        with _raw(engine) as duck:
            return duck.sql(sql).to_arrow_table()
    with engine.connect() as conn:
        result = conn.exec_driver_sql(sql)
        names = list(result.keys())
        rows = result.fetchall()
    return pa.Table.from_pylist([dict(zip(names, r)) for r in rows]) if rows else pa.table({n: [] for n in names})


def table_exists(engine: sa.Engine, schema: str, name: str) -> bool:
    return sa.inspect(engine).has_table(name, schema=schema)


def read_table(engine: sa.Engine, schema: str, name: str) -> pa.Table:
    return query(engine, f"SELECT * FROM {schema}.{name}")


def write_table(engine: sa.Engine, schema: str, name: str, table: pa.Table) -> None:
    """Replace `schema.name` with the Arrow table, in bulk."""
    if is_duckdb(engine):
        with _raw(engine) as duck:
            duck.register("_carebridge_incoming", table)
            try:
                duck.execute(f"CREATE OR REPLACE TABLE {schema}.{name} AS SELECT * FROM _carebridge_incoming")
            finally:
                duck.unregister("_carebridge_incoming")
        return
    _write_postgres(engine, schema, name, table)


def _write_postgres(engine: sa.Engine, schema: str, name: str, table: pa.Table) -> None:
    """COPY the rows in through psycopg 3 (bulk, not row-by-row inserts)."""
    columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in table.schema)
    with _raw(engine) as pg:
        with pg.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {schema}.{name} CASCADE")
            cur.execute(f"CREATE TABLE {schema}.{name} ({columns})")
            names = ", ".join(f'"{n}"' for n in table.column_names)
            with cur.copy(f"COPY {schema}.{name} ({names}) FROM STDIN") as copy:
                for batch in table.to_batches(max_chunksize=50_000):
                    for row in zip(*(col.to_pylist() for col in batch.columns)):
                        copy.write_row(row)


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE PRECISION"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_list(t) or pa.types.is_struct(t):
        return "JSONB"
    return "TEXT"


def _split(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
