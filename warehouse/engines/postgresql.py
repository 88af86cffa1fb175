"""The PostgreSQL backend (psycopg 3): rows go in with `COPY ... FROM STDIN (FORMAT csv)`, the CSV
written by Arrow's C++ writer in chunks (no per-row Python); results come back through
`COPY (query) TO STDOUT` and Arrow's CSV reader, typed from the query's result description. SQL is
sent through the raw psycopg cursor without parameters, so a `%` in SQL is a `%`. FHIR resources
are loaded as jsonb; views compile to PostgreSQL SQL
(its dialect: `warehouse.engines.postgresql_dialect`); grants follow warehouse/roles.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from warehouse.engines.base import Engine, quote
from warehouse.engines.postgresql_dialect import POSTGRESQL

__all__ = ["PostgresEngine"]

_CHUNK_ROWS = 100_000  # rows per CSV chunk sent to COPY: bounded memory, few round trips


def _body(sql: str) -> str:
    """A single query without its trailing `;`, so it can be wrapped in a subquery or COPY."""
    return sql.strip().rstrip(";").rstrip()


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


class PostgresEngine(Engine):
    """COPY in and out through psycopg 3; SQL sent without parameters (a `%` is a `%`)."""

    name = "postgresql"
    url_schemes = ("postgresql",)
    view_dialect = POSTGRESQL

    @classmethod
    def connect(cls, url: str, read_only: bool = False) -> sa.Engine:
        if read_only:  # every transaction read-only; give up on a table lock rather than wait behind a build
            options = "-c default_transaction_read_only=on -c lock_timeout=5s"
            return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options})
        return sa.create_engine(url, pool_pre_ping=True)

    def run(self, statements: list[str]) -> None:
        with self.driver() as pg, pg.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def query(self, sql: str) -> pa.Table:
        body = _body(sql)
        with self.driver() as pg, pg.cursor() as cur:
            cur.execute(f"SELECT * FROM (\n{body}\n) AS q LIMIT 0")
            schema = pa.schema([(d.name, _PG_OID_ARROW.get(d.type_code, pa.string())) for d in cur.description])
            with cur.copy(f"COPY (\n{body}\n) TO STDOUT (FORMAT csv)") as copy:
                data = b"".join(copy)
        return _read_csv(data, schema)

    def load_arrow(self, qualified: str, table: pa.Table, replace: bool) -> None:
        columns = ", ".join(f"{quote(f.name)} {_pg_type(f.type)}" for f in table.schema)
        names = ", ".join(quote(n) for n in table.column_names)
        with self.driver() as pg, pg.cursor() as cur:
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

    def load_ndjson(self, con: Any, files: Mapping[str, Path | None], schema: str) -> dict[str, int]:
        from warehouse.engines.postgresql_views import load_ndjson_pg

        return load_ndjson_pg(con, files, schema)

    def run_view(self, con: Any, view: dict, schema: str) -> pa.Table:
        from warehouse.engines.postgresql_views import run_compiled_pg

        return run_compiled_pg(con, view, schema=schema)

    def apply_grants(self, roles: Any = None) -> Mapping[str, int]:
        from warehouse.roles import setup_roles

        return setup_roles(self.sa.url.render_as_string(hide_password=False), roles)
