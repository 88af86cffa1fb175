"""The warehouse connection: a SQLAlchemy engine (DuckDB file by default, PostgreSQL as the server
option) and bulk Arrow I/O.

Everything that writes to or reads from the warehouse goes through these few functions. What
differs between the engines sits in one small class per engine (`_DuckDB`, `_Postgres`), picked
by the engine's dialect name; nothing else in carebridge asks which engine it is talking to,
except the view runner, which compiles views inside DuckDB.

- DuckDB: Arrow tables are registered on the connection and copied in with one
  `CREATE TABLE AS`; results come back as Arrow directly.
- PostgreSQL (psycopg 3): rows go in with `COPY ... FROM STDIN (FORMAT csv)`, the CSV written
  by Arrow's C++ writer in chunks (no per-row Python); results come back through
  `COPY (query) TO STDOUT` and Arrow's CSV reader, typed from the query's result description.
  SQL is sent through the raw psycopg cursor without parameters, so a `%` in SQL is a `%`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

__all__ = ["SCHEMAS", "make_engine", "duckdb_path", "default_url", "ensure_schemas", "write_table", "append_table", "read_table",
           "execute", "execute_each", "query", "table_exists", "is_duckdb", "is_postgres"]

SCHEMAS = ("identifiable", "analytics", "published", "reference")
_CHUNK_ROWS = 100_000  # rows per CSV chunk sent to COPY: bounded memory, few round trips


def default_url(out_dir: Path) -> str:
    return f"duckdb:///{(Path(out_dir) / 'warehouse.duckdb').resolve()}"


def make_engine(url: str, read_only: bool = False) -> sa.Engine:
    """An engine on the warehouse at `url`. `read_only`: DuckDB opens the file with
    `access_mode=read_only` (never creating it, and alongside other readers); PostgreSQL sessions
    start every transaction read-only and give up on a table lock after a few seconds rather than
    waiting behind a running build."""
    if url.startswith("duckdb:"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if read_only:
            url += ("&" if "?" in url else "?") + "access_mode=read_only"
        elif path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection: DuckDB files allow a single writer process, and Arrow is registered per connection.
        return sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)
    if read_only:
        options = "-c default_transaction_read_only=on -c lock_timeout=5s"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    return sa.create_engine(url, pool_pre_ping=True)


def duckdb_path(url: str) -> Path | None:
    """The file of a DuckDB URL (None for PostgreSQL and in-memory DuckDB)."""
    if not url.startswith("duckdb:"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def is_duckdb(engine: sa.Engine) -> bool:
    return engine.dialect.name == "duckdb"


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def _raw(engine: sa.Engine) -> Iterator[Any]:
    """The driver's own connection (duckdb / psycopg), committed when the block ends without error."""
    conn = engine.raw_connection()
    try:
        yield conn.driver_connection
        conn.commit()
    finally:
        conn.close()


def _split(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _body(sql: str) -> str:
    """A single query without its trailing `;`, so it can be wrapped in a subquery or COPY."""
    return sql.strip().rstrip(";").rstrip()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- DuckDB ----------------------------------------------------------------------------------

class _DuckDB:
    """Arrow in and out natively, on the engine's single connection."""

    @staticmethod
    def run(engine: sa.Engine, statements: list[str]) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    @staticmethod
    def query(engine: sa.Engine, sql: str) -> pa.Table:
        with _raw(engine) as duck:
            return duck.sql(sql).to_arrow_table()

    @staticmethod
    def write(engine: sa.Engine, qualified: str, table: pa.Table, replace: bool) -> None:
        with _raw(engine) as duck:
            duck.register("_carebridge_incoming", table)
            try:
                if replace:
                    duck.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM _carebridge_incoming")
                else:
                    duck.execute(f"CREATE TABLE IF NOT EXISTS {qualified} AS SELECT * FROM _carebridge_incoming LIMIT 0")
                    duck.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _carebridge_incoming")
            finally:
                duck.unregister("_carebridge_incoming")


# --- PostgreSQL ------------------------------------------------------------------------------

# Result column type OID -> the Arrow type its CSV text is read as (anything else stays text).
_PG_OID_ARROW: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(),
    700: pa.float64(), 701: pa.float64(), 1700: pa.float64(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
}


def _pg_type(t: pa.DataType) -> str:
    """The PostgreSQL column type an Arrow column is stored as."""
    if pa.types.is_dictionary(t):
        return _pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE PRECISION"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_nested(t):
        return "JSONB"
    return "TEXT"


def _csv_ready(table: pa.Table) -> pa.Table:
    """Columns Arrow's CSV writer cannot write as PostgreSQL reads them: nested values become JSON
    text (the only per-value Python here), dictionaries are decoded."""
    columns = []
    for column in table.columns:
        if pa.types.is_nested(column.type):
            values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(values, pa.string())])
        elif pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _csv_chunks(table: pa.Table) -> Iterator[pa.Buffer]:
    """The table as CSV without a header, `_CHUNK_ROWS` rows at a time. Arrow writes a null as an
    empty unquoted field and an empty string as `""`, which is how PostgreSQL's CSV COPY tells them apart."""
    options = pacsv.WriteOptions(include_header=False)
    for batch in _csv_ready(table).to_batches(max_chunksize=_CHUNK_ROWS):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, options)
        yield sink.getvalue()


def _read_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    """PostgreSQL's CSV output (no header) as an Arrow table of `schema`."""
    if not data:
        return schema.empty_table()
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema}, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]))


class _Postgres:
    """COPY in and out through psycopg 3; SQL sent without parameters (a `%` is a `%`)."""

    @staticmethod
    def run(engine: sa.Engine, statements: list[str]) -> None:
        with _raw(engine) as pg, pg.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    @staticmethod
    def query(engine: sa.Engine, sql: str) -> pa.Table:
        body = _body(sql)
        with _raw(engine) as pg, pg.cursor() as cur:
            cur.execute(f"SELECT * FROM (\n{body}\n) AS q LIMIT 0")
            schema = pa.schema([(d.name, _PG_OID_ARROW.get(d.type_code, pa.string())) for d in cur.description])
            with cur.copy(f"COPY (\n{body}\n) TO STDOUT (FORMAT csv)") as copy:
                data = b"".join(copy)
        return _read_csv(data, schema)

    @staticmethod
    def write(engine: sa.Engine, qualified: str, table: pa.Table, replace: bool) -> None:
        columns = ", ".join(f"{_quote(f.name)} {_pg_type(f.type)}" for f in table.schema)
        names = ", ".join(_quote(n) for n in table.column_names)
        with _raw(engine) as pg, pg.cursor() as cur:
            if replace:
                cur.execute(f"DROP TABLE IF EXISTS {qualified} CASCADE")
                cur.execute(f"CREATE TABLE {qualified} ({columns})")
            else:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})")
            # FREEZE: the table is new in this transaction, so rows can be written already frozen.
            freeze = ", FREEZE" if replace else ""
            with cur.copy(f"COPY {qualified} ({names}) FROM STDIN (FORMAT csv{freeze})") as copy:
                for chunk in _csv_chunks(table):
                    copy.write(chunk)


_DIALECTS: dict[str, type[_DuckDB] | type[_Postgres]] = {"duckdb": _DuckDB, "postgresql": _Postgres}


def _dialect(engine: sa.Engine) -> type[_DuckDB] | type[_Postgres]:
    try:
        return _DIALECTS[engine.dialect.name]
    except KeyError:
        raise NotImplementedError(f"carebridge's warehouse supports DuckDB and PostgreSQL, not {engine.dialect.name}") from None


# --- the functions the rest of carebridge uses ----------------------------------------------

def ensure_schemas(engine: sa.Engine) -> None:
    execute_each(engine, [f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in SCHEMAS])


def execute(engine: sa.Engine, sql: str) -> None:
    """Run one or more ;-separated statements in one transaction (no `;` inside them, not even in comments)."""
    execute_each(engine, _split(sql))


def execute_each(engine: sa.Engine, statements: Iterable[str]) -> None:
    """Run each statement exactly as given, in one transaction."""
    _dialect(engine).run(engine, list(statements))


def query(engine: sa.Engine, sql: str) -> pa.Table:
    """Run one query and return the result as an Arrow table."""
    return _dialect(engine).query(engine, sql)


def table_exists(engine: sa.Engine, schema: str, name: str) -> bool:
    return sa.inspect(engine).has_table(name, schema=schema)


def read_table(engine: sa.Engine, schema: str, name: str) -> pa.Table:
    return query(engine, f"SELECT * FROM {schema}.{name}")


def write_table(engine: sa.Engine, schema: str, name: str, table: pa.Table) -> None:
    """Replace `schema.name` with the Arrow table, in bulk and in one transaction."""
    _dialect(engine).write(engine, f"{schema}.{name}", table, replace=True)


def append_table(engine: sa.Engine, schema: str, name: str, table: pa.Table) -> None:
    """Add the Arrow table's rows to `schema.name` (created from the table's schema when missing), in bulk.
    For logs that accumulate across runs; columns are matched by name."""
    _dialect(engine).write(engine, f"{schema}.{name}", table, replace=False)
